"""Generate the Python stubs (messages, .pyi, gRPC) beside every .proto under proto/.

`--check` regenerates into a temporary directory and fails when a committed stub differs or is missing,
so CI catches stale stubs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]  # grpcio-tools ships no type hints

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generate(out: Path) -> None:
    """Run protoc once over all files, so imports between them resolve the same way as at run time."""
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *files,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    for directory in {p.parent.relative_to(out) for p in out.rglob("*_pb2.py")}:
        # Every level needs an __init__.py so setuptools and mypy see regular packages.
        for level in [directory, *directory.parents[:-1]]:
            (out / level / "__init__.py").touch(exist_ok=True)


def _generated(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file() and (p.name.endswith(GENERATED_SUFFIXES) or p.name == "__init__.py")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when committed stubs are stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _generate(out)
        fresh = _generated(out)
        committed = _generated(PROTO)
        stale = sorted(
            str(p) for p in fresh if p not in committed or not filecmp.cmp(out / p, PROTO / p, shallow=False)
        )
        extra = sorted(str(p) for p in committed - fresh if p.name != "__init__.py")
        if check:
            if stale or extra:
                sys.exit("stale generated stubs (run `make proto`): " + ", ".join(stale + extra))
            print("generated stubs are fresh")
            return
        for p in extra:
            (PROTO / p).unlink()
        for p in stale:
            (PROTO / p).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / p, PROTO / p)
        print(f"regenerated {len(stale)} file(s), removed {len(extra)}")


if __name__ == "__main__":
    main()
