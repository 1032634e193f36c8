"""Writes the public GraphQL schema (SDL) to docs/api/schema.graphql; `--check` fails when that file is stale.

python scripts/export_schema.py          # regenerate
python scripts/export_schema.py --check  # CI: exit 1 if the committed SDL differs from the code
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from strawberry.printer import print_schema

from graphql_gateway.schema import build_schema

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "api" / "schema.graphql"


def render() -> str:
    return print_schema(build_schema()) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed schema is stale")
    args = parser.parse_args(argv)
    sdl = render()
    if args.check:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != sdl:
            print(f"{SCHEMA_PATH} is stale: run python scripts/export_schema.py", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.write_text(sdl, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
