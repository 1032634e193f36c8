"""`geko migrate` and `geko admin …` as an operator runs them: real processes on a fresh SQLite data dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from db.migrate import alembic_config
from tests.e2e.processes import GEKO, geko_env

pytestmark = pytest.mark.e2e

# The newest migration, whatever later issues add.
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def geko(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = geko_env(data_dir=str(tmp_path / "data"), log_level="WARNING")
    return subprocess.run(
        [str(GEKO), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {expected}"]
    assert "Traceback" not in result.stdout + result.stderr


def test_admin_commands_need_a_migrated_database(tmp_path: Path) -> None:
    result = geko(tmp_path, "admin", "list-users")

    assert_one_line_error(result, "the database is not migrated yet: run `geko migrate` (or `geko up`) first")


def test_operator_creates_a_user_and_sets_the_plan(tmp_path: Path) -> None:
    # Given a migrated, seeded database
    migrated = geko(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"database at revision {HEAD}" in migrated.stdout

    # When the operator creates a user in a new tenant and moves it to pro
    user = ["--email", "Op@Cli.example", "--name", "Op", "--tenant-name", "Ops"]
    created = geko(tmp_path, "admin", "create-user", *user, "--password", "operator-pw-1")
    assert created.returncode == 0, created.stderr
    assert "created owner op@cli.example" in created.stdout
    plan = geko(tmp_path, "admin", "set-plan", "--tenant", "op@cli.example", "--plan", "pro")
    assert plan.returncode == 0, plan.stderr

    # Then the list shows it, and bad input gets one line naming the field
    listed = geko(tmp_path, "admin", "list-users", "--tenant", "op@cli.example")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [row[:5] for row in rows] == [["op@cli.example", "Op", "owner", "Ops", "pro"]]

    duplicate = geko(tmp_path, "admin", "create-user", *user, "--password", "operator-pw-1")
    assert_one_line_error(duplicate, "email: an account with this email already exists")
    weak = geko(tmp_path, "admin", "create-user", *user[:4], "--tenant-name", "X", "--password", "short")
    assert_one_line_error(weak, "password: password must be at least 10 characters")
    bad_plan = geko(tmp_path, "admin", "set-plan", "--tenant", "op@cli.example", "--plan", "gold")
    assert_one_line_error(bad_plan, "plan: plan must be one of free, pro, paygo")


def test_migrate_down_to_base_and_up_again(tmp_path: Path) -> None:
    assert geko(tmp_path, "migrate").returncode == 0

    down = geko(tmp_path, "migrate", "--down", "base")
    assert down.returncode == 0, down.stderr
    assert "database at revision base" in down.stdout
    assert f"database at revision {HEAD}" in geko(tmp_path, "migrate").stdout
