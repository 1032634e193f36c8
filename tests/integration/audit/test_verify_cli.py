"""`geko admin audit verify` as an operator runs it: a real process on the database, every tenant or one;
exit code 1 and the broken entry when a row was edited. (This module has a database of its own; few
invocations, since each one is a process start.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import update

from db.models.audit import AuditLog
from services.runtime.ids import new_id
from tests.e2e.processes import GEKO, geko_env
from tests.integration.audit.harness import AuditPlatform
from tests.integration.auth.harness import SECRET_KEY


async def verify(harness: AuditPlatform, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = geko_env(
        database_url=harness.database.url, data_dir=str(tmp_path), secret_key=SECRET_KEY, log_level="WARNING"
    )
    process = await asyncio.create_subprocess_exec(
        str(GEKO),
        "admin",
        "audit",
        "verify",
        *args,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode().strip(), stderr.decode().strip()


async def test_verify_reports_ok_then_the_first_broken_entry(
    audit_platform: AuditPlatform, tmp_path: Path
) -> None:
    alpha, beta = new_id(), new_id()
    for _ in range(3):
        await audit_platform.record(alpha)
    beta_ids = [await audit_platform.record(beta) for _ in range(2)]

    assert await verify(audit_platform, tmp_path) == (0, "audit chain ok: 5 entries", "")
    assert await verify(audit_platform, tmp_path, "--tenant", alpha) == (0, "audit chain ok: 3 entries", "")

    async with audit_platform.database.transaction() as session:
        await session.execute(
            update(AuditLog).where(AuditLog.id == beta_ids[1]).values(action="NOTHING_HAPPENED")
        )

    code, out, err = await verify(audit_platform, tmp_path)
    assert code == 1
    assert out == (
        f"audit chain BROKEN at entry {beta_ids[1]} (seq 2, tenant {beta}): "
        "hash mismatch: the entry was altered after it was recorded"
    )
    assert err == ""


async def test_a_malformed_tenant_is_one_line(audit_platform: AuditPlatform, tmp_path: Path) -> None:
    code, out, err = await verify(audit_platform, tmp_path, "--tenant", "acme")
    assert (code, out) == (1, "")
    assert err == "error: --tenant: 'acme' is not a tenant id"
