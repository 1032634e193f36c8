"""Measure the audit CSV export: rows/s and the serving process's peak memory, at 100k rows of one tenant.

A child process serves auth, workspace and audit on one gRPC server (as `geko up` does) over a fresh
database: a SQLite file in a temp dir, and a fresh PostgreSQL database when GEKO_BENCH_PG_URL is set (a
`postgresql+psycopg://` URL of a role that may create databases). This process registers an owner, bulk
inserts the rows (a valid hash chain), then streams ExportAuditEvents through the real server to /dev/null.
The server's peak RSS (VmHWM from /proc) is read before and after the export: bounded memory means the
export adds only a page's worth, whatever the row count. `--tracemalloc` also reports the peak of Python
allocations during the export (slower).

Run with the project venv:  .venv/bin/python scripts/bench_audit_export.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import grpc
import psycopg
from cryptography.fernet import Fernet
from psycopg import sql
from sqlalchemy import insert
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db import migrate
from db.models.audit import AuditLog
from db.seed import seed
from geko.audit.v1 import audit_pb2, audit_pb2_grpc
from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from services.audit.chain import GENESIS_HASH, entry_hash
from services.hosting import registrations, token_verifier
from services.runtime.clock import utcnow
from services.runtime.database import Database
from services.runtime.ids import new_id
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.settings import Settings

SERVED = ("auth", "workspace", "audit")
INSERT_BATCH = 5000
PASSWORD = "bench-Passw0rd-1"


# ---- the serving child ----


async def serve(port_file: Path, use_tracemalloc: bool) -> None:
    """Hosts SERVED on a loopback port (written to `port_file`) until SIGTERM. SIGUSR1 resets the
    tracemalloc peak; SIGUSR2 writes {"maxrss_kib", "traced_peak_bytes"} beside the port file."""
    if use_tracemalloc:
        tracemalloc.start()
    settings = Settings()
    deps = ServiceDeps.from_settings(settings)
    server = GrpcServer(
        registrations(SERVED, deps), token_verifier=token_verifier(SERVED, deps), settings=settings
    )
    port = await server.start("127.0.0.1:0")
    for service in SERVED:
        setattr(settings, f"{service}_addr", f"127.0.0.1:{port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: tracemalloc.reset_peak() if use_tracemalloc else None)
    loop.add_signal_handler(
        signal.SIGUSR2, lambda: _write_memory(port_file.with_suffix(".mem"), use_tracemalloc)
    )
    await asyncio.to_thread(port_file.write_text, str(port))
    await stop.wait()
    await server.stop(1)
    await deps.aclose()


def _write_memory(path: Path, use_tracemalloc: bool) -> None:
    traced_peak = tracemalloc.get_traced_memory()[1] if use_tracemalloc else None
    usage = {
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "traced_peak_bytes": traced_peak,
    }
    path.write_text(json.dumps(usage))


# ---- the measuring parent ----


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    port_file: Path

    def peak_rss_kib(self) -> int:
        """VmHWM: the most resident memory the process has had so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM in /proc (Linux only)")

    def reset_traced_peak(self) -> None:
        self.process.send_signal(signal.SIGUSR1)

    def memory_report(self) -> dict[str, Any]:
        report = self.port_file.with_suffix(".mem")
        report.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR2)
        for _ in range(200):
            if report.exists() and report.read_text():
                return dict(json.loads(report.read_text()))
            time.sleep(0.05)
        raise RuntimeError("the server did not report its memory")


@contextmanager
def running_server(database_url: str, workdir: Path, use_tracemalloc: bool) -> Iterator[Server]:
    port_file = workdir / "server.port"
    env = {key: value for key, value in os.environ.items() if not key.startswith("GEKO_")}
    env.update(
        GEKO_DATABASE_URL=database_url,
        GEKO_DATA_DIR=str(workdir / "data"),
        GEKO_SECRET_KEY=Fernet.generate_key().decode(),
        GEKO_LOG_LEVEL="WARNING",
        GEKO_LOGIN_RATE_PER_IP="1000",
    )
    command = [sys.executable, __file__, "--serve", str(port_file)]
    if use_tracemalloc:
        command.append("--tracemalloc")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603 (our own script)
    try:
        for _ in range(600):
            if port_file.exists() and port_file.read_text():
                break
            if process.poll() is not None:
                raise RuntimeError("the server exited during startup")
            time.sleep(0.05)
        yield Server(process, int(port_file.read_text()), port_file)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def prepare(database_url: str) -> None:
    await migrate.upgrade(database_url)
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await seed(session)
    finally:
        await database.dispose()


async def register(port: int) -> tuple[str, str, str, str]:
    """A new owner's (access token, tenant id, user id, default workspace id)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await auth_pb2_grpc.AuthServiceStub(
            channel
        ).Register(  # type: ignore[no-untyped-call]
            auth_pb2.RegisterRequest(
                email=f"bench.{new_id()[-12:]}@example.com",
                password=PASSWORD,
                name="Bench",
                tenant_name="Bench",
            ),
            timeout=30,
        )
    session = response.session
    return session.access_token, session.user.tenant_id, session.user.id, response.default_workspace_id


async def insert_rows(
    database_url: str, *, tenant_id: str, workspace_id: str, actor: str, count: int
) -> float:
    """`count` chained entries of one workspace, one second apart; the seconds it took."""
    started = time.perf_counter()
    database = Database(database_url)
    table = AuditLog.__table__
    start_at = utcnow() - timedelta(seconds=count)
    prev_hash = GENESIS_HASH
    try:
        for first in range(0, count, INSERT_BATCH):
            rows: list[dict[str, Any]] = []
            for seq in range(first + 1, min(first + INSERT_BATCH, count) + 1):
                entry = AuditLog(
                    id=new_id(),
                    tenant_id=tenant_id,
                    seq=seq,
                    workspace_id=workspace_id,
                    actor_user_id=actor,
                    action="MEMBER_ROLE_CHANGED",
                    resource_type="member",
                    resource_id=new_id(),
                    details={"from": "viewer", "to": "editor", "seq": seq},
                    ip="192.0.2.44",
                    user_agent="Mozilla/5.0 (X11; Linux x86_64) bench",
                    request_id=new_id().replace("-", ""),
                    created_at=start_at + timedelta(seconds=seq),
                    prev_hash=prev_hash,
                )
                entry.hash = prev_hash = entry_hash(entry)
                rows.append({column.key: getattr(entry, column.key) for column in table.columns})
            async with database.transaction() as session:
                await session.execute(insert(AuditLog), rows)
    finally:
        await database.dispose()
    return time.perf_counter() - started


async def export(port: int, token: str, workspace_id: str, sink: BinaryIO) -> tuple[int, int, int, float]:
    """Streams the CSV into `sink`; (rows, bytes, chunks, seconds)."""
    rows = size = chunks = 0
    started = time.perf_counter()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stream = audit_pb2_grpc.AuditServiceStub(channel).ExportAuditEvents(  # type: ignore[no-untyped-call]
            audit_pb2.ExportAuditEventsRequest(workspace_id=workspace_id),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        async for response in stream:
            chunk = response.csv_chunk
            sink.write(chunk)
            rows += chunk.count(b"\r\n")
            size += len(chunk)
            chunks += 1
    return rows - 1, size, chunks, time.perf_counter() - started  # minus the header


def bench(label: str, database_url: str, workdir: Path, count: int, use_tracemalloc: bool) -> None:
    asyncio.run(prepare(database_url))
    with running_server(database_url, workdir, use_tracemalloc) as server:
        token, tenant_id, actor, workspace_id = asyncio.run(register(server.port))
        inserted = asyncio.run(
            insert_rows(
                database_url, tenant_id=tenant_id, workspace_id=workspace_id, actor=actor, count=count
            )
        )
        before = server.peak_rss_kib()
        server.reset_traced_peak()
        with open(os.devnull, "wb") as sink:
            rows, size, chunks, seconds = asyncio.run(export(server.port, token, workspace_id, sink))
        after = server.peak_rss_kib()
        report = server.memory_report()
    if rows != count:
        sys.exit(f"{label}: exported {rows} rows, expected {count}")
    print(f"{label}: {count} rows inserted in {inserted:.1f} s")
    print(
        f"  export: {rows} rows, {size / 1e6:.1f} MB in {chunks} chunks, {seconds:.2f} s "
        f"= {rows / seconds:,.0f} rows/s"
    )
    print(
        f"  server peak RSS: {before / 1024:.1f} MiB before the export, {after / 1024:.1f} MiB after "
        f"(+{(after - before) / 1024:.1f} MiB); getrusage maxrss {report['maxrss_kib'] / 1024:.1f} MiB"
    )
    if report["traced_peak_bytes"] is not None:
        print(f"  tracemalloc peak during the export: {report['traced_peak_bytes'] / 1e6:.1f} MB")


@contextmanager
def fresh_pg_database(url: str) -> Iterator[str]:
    name = "geko_bench_" + new_id().replace("-", "")[:16]
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="audit rows of the one tenant")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.tracemalloc))
        return
    with tempfile.TemporaryDirectory(prefix="geko-bench-audit-") as tmp:
        sqlite_dir = Path(tmp) / "sqlite"
        sqlite_dir.mkdir()
        url = f"sqlite+aiosqlite:///{sqlite_dir / 'geko.db'}"
        bench("SQLite", url, sqlite_dir, args.rows, args.tracemalloc)
        pg_url = os.environ.get("GEKO_BENCH_PG_URL")
        if pg_url:
            pg_dir = Path(tmp) / "pg"
            pg_dir.mkdir()
            with fresh_pg_database(pg_url) as database_url:
                bench("PostgreSQL", database_url, pg_dir, args.rows, args.tracemalloc)


if __name__ == "__main__":
    main()
