"""Every setting is documented: README.md's table and infra/.env.example name each `GEKO_*` variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = [f"GEKO_{name.upper()}" for name in Settings.model_fields]


@pytest.mark.parametrize("document", ["README.md", "infra/.env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()

    missing = [name for name in VARIABLES if f"{name}=" not in text and f"`{name}`" not in text]

    assert missing == [], f"{document} does not mention {missing}; run scripts/settings_doc.py"


def test_settings_docs_match_the_model() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "settings_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
