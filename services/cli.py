"""`geko`: run the platform (`up`), one service of it (`serve`), migrations (`migrate`) and `admin` tasks.

Errors a user can fix (bad input, a taken port, an unreachable database) end the command with one line on
stderr and exit code 1, never a traceback.

What only some commands need is imported by them: a `geko serve <service>` process keeps neither the gateway
(Strawberry, GraphQL) nor Alembic in memory, ~20 MiB of RSS less per service process.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from services.auth import admin as auth_admin
from services.events.relay import OutboxRelay
from services.hosting import HttpServer, registrations, token_verifier, wait_for_shutdown_signal
from services.runtime.database import Database
from services.runtime.errors import GekoError
from services.runtime.ids import parse_id
from services.runtime.logging import configure_logging
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.settings import SERVICES, Settings

if TYPE_CHECKING:
    from services.audit.service import ChainReport
    from services.embedded import Platform

# glibc's mallopt parameter for the most malloc arenas, and the cap for `up` and `serve`.
M_ARENA_MAX = -8
MALLOC_ARENAS = 2
# Allocations between two young-generation collections once serving (`prepare_heap_for_serving`).
GC_YOUNG_THRESHOLD = 10_000

Target = Literal["auth", "workspace", "model", "chat", "memory", "billing", "audit", "gateway"]
assert get_args(Target) == (*SERVICES, "gateway"), "Target must list every service"

app = typer.Typer(
    name="geko",
    help="GEKO: a self-hostable multi-tenant AI platform for teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class CliError(Exception):
    """A problem to report in one line (exit code 1)."""


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env, with command-line options on top; logging configured."""
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "GEKO_" + "_".join(str(part) for part in first["loc"]).upper()
        raise fail(f"invalid setting {name}: {first['msg']}") from None
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings)
    return settings


def limit_malloc_arenas() -> None:
    """Caps glibc's malloc arenas for a long-running process, unless MALLOC_ARENA_MAX already set them.

    glibc gives a thread that allocates while the others' arenas are busy an arena of its own, up to eight per
    core, and their freed pages stay resident. The database driver and gRPC run threads: `geko up` with 128
    streams peaked at ~200 MiB RSS, ~181 MiB with two arenas. Python objects come from its own allocator,
    under the GIL, so the cap costs no measurable speed. Without glibc (no `mallopt`) there is nothing to do.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def prepare_heap_for_serving() -> None:
    """Once start-up is done: takes what it allocated (modules, the schema, caches: ~230k objects in `geko
    up`) out of the garbage collector's sight, and lets young collections wait for `GC_YOUNG_THRESHOLD`
    allocations. Each full collection scanned the start-up objects with the event loop stopped (~95 ms, every
    few seconds under load; ~40 ms after), for objects that live as long as the process anyway. A chat turn
    allocates thousands of short-lived objects, so Python's default of 700 ran ~100 young collections a
    second at c=32, ~5% of the loop's time; 10,000 cut the time spent collecting by about a third, and chat
    TTFT and tokens/s were better in 4 of 5 interleaved pairs (~7% on average), at c=32's same peak RSS."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Runs `main`, turning the failures a user can act on into one line and exit code 1."""
    try:
        asyncio.run(main)
    except GekoError as error:
        raise fail(f"{error.field}: {error.message}" if error.field else error.message) from None
    except (CliError, OSError, ValueError) as error:
        raise fail(str(error)) from None
    except DBAPIError as error:
        raise fail(f"database: {str(error.orig).strip().splitlines()[0]}") from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@app.command()
def up(
    port: Annotated[int | None, typer.Option(help="Gateway port (default GEKO_PORT, 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="Gateway bind address (default GEKO_HOST)")] = None,
) -> None:
    """Everything in one process: all services and the gateway, SQLite and in-process cache by default."""
    limit_malloc_arenas()
    run(_up(load_settings(port=port, host=host)))


async def _up(settings: Settings) -> None:
    from services.embedded import run_embedded  # the gateway and Alembic: `up` only

    stop = asyncio.create_task(wait_for_shutdown_signal())
    await asyncio.sleep(0)  # handlers installed: a signal during startup stops right after it
    async with run_embedded(settings) as platform:
        prepare_heap_for_serving()
        announce(platform)
        await stop


def announce(platform: Platform) -> None:
    typer.echo(f"GEKO is up: {platform.url}/graphql (GraphiQL)")
    admin = platform.new_admin
    if admin is not None and admin.password is not None:
        typer.echo(f"First admin: {admin.email}  password: {admin.password}  (shown once; keep it safe)")
    elif admin is not None:
        typer.echo(f"First admin: {admin.email} (password from GEKO_ADMIN_PASSWORD)")


@app.command()
def serve(
    service: Annotated[Target, typer.Argument(help="The service to run, or the gateway")],
    port: Annotated[
        int | None, typer.Option(help="Port (default: from GEKO_<SERVICE>_ADDR / GEKO_PORT)")
    ] = None,
) -> None:
    """One service (gRPC on GEKO_GRPC_HOST) or the gateway (HTTP on GEKO_HOST): the distributed mode."""
    limit_malloc_arenas()
    settings = load_settings()
    for name, value in (("GEKO_DATABASE_URL", settings.database_url), ("GEKO_REDIS_URL", settings.redis_url)):
        if not value:
            typer.secho(
                f"warning: {name} is not set; this process keeps its own state, not shared with the others",
                err=True,
                fg=typer.colors.YELLOW,
            )
    run(_serve_gateway(settings, port) if service == "gateway" else _serve_service(settings, service, port))


async def _serve_service(settings: Settings, service: str, port: int | None) -> None:
    stop = asyncio.create_task(wait_for_shutdown_signal())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bind_port = port or int(settings.service_addr(service).rsplit(":", 1)[1])
    deps = ServiceDeps.from_settings(settings)
    try:
        server = GrpcServer(
            registrations([service], deps), token_verifier=token_verifier([service], deps), settings=settings
        )
        bound = await server.start(grpc_address(settings.grpc_host, bind_port))
        server.serve_locally(deps.channels)  # e.g. audit's relay delivering to audit
        relay = OutboxRelay(deps.database, deps.channels, settings, [service])
        await relay.start()
        prepare_heap_for_serving()
        typer.echo(f"GEKO {service} service is up: gRPC on {grpc_address(settings.grpc_host, bound)}")
        try:
            await stop
        finally:
            await relay.stop()
            await server.stop()
    finally:
        await deps.aclose()


async def _serve_gateway(settings: Settings, port: int | None) -> None:
    from graphql_gateway.app import create_app  # Strawberry and GraphQL: the gateway process only

    stop = asyncio.create_task(wait_for_shutdown_signal())
    http = HttpServer(
        create_app(settings), settings.host, port or settings.port, grace_seconds=settings.grpc_grace_seconds
    )
    await http.start()
    prepare_heap_for_serving()
    typer.echo(f"GEKO gateway is up: http://{settings.host}:{http.port}/graphql")
    try:
        await stop
    finally:
        await http.stop()


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Revision to upgrade to")] = "head",
    down: Annotated[
        str | None, typer.Option(help="Downgrade to this revision instead (`base`: drop all)")
    ] = None,
) -> None:
    """Migrate the database (GEKO_DATABASE_URL, or SQLite in GEKO_DATA_DIR); at head, also seed it."""
    run(_migrate(load_settings(), revision, down))


async def _migrate(settings: Settings, revision: str, down: str | None) -> None:
    from db import migrate as migrations  # Alembic: migrations only
    from db.seed import seed

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    if down is not None:
        await migrations.downgrade(url, down)
    else:
        await migrations.upgrade(url, revision)
        if revision == "head":
            database = Database(url)
            try:
                async with database.transaction() as session:
                    await seed(session)
            finally:
                await database.dispose()
    typer.echo(f"database at revision {await migrations.current(url) or 'base'}")


admin = typer.Typer(help="Operator tasks, straight on the database (no running service needed).")
app.add_typer(admin, name="admin")


async def admin_deps(settings: Settings) -> ServiceDeps:
    """The dependencies the admin actions need, once the database has been migrated."""
    from db import migrate as migrations  # Alembic: to read the revision

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if await migrations.current(settings.effective_database_url) is None:
        raise CliError("the database is not migrated yet: run `geko migrate` (or `geko up`) first")
    return ServiceDeps.from_settings(settings)


@admin.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Sign-in email")],
    password: Annotated[str, typer.Option(help="At least 10 characters, letters with digits or symbols")],
    name: Annotated[str, typer.Option(help="Display name")],
    tenant_name: Annotated[str | None, typer.Option(help="Create a new tenant with this name")] = None,
    tenant_id: Annotated[str | None, typer.Option(help="Or add the user to this existing tenant")] = None,
    role: Annotated[str, typer.Option(help="owner, admin, editor or viewer")] = "owner",
) -> None:
    """Create a user, in a new tenant (--tenant-name) or an existing one (--tenant-id)."""

    async def main() -> None:
        deps = await admin_deps(load_settings())
        try:
            row = await auth_admin.create_user(
                deps,
                email=email,
                password=password,
                name=name,
                role=role,
                tenant_name=tenant_name,
                tenant_id=tenant_id,
            )
        finally:
            await deps.aclose()
        typer.echo(
            f"created {row.role} {row.email} (user {row.id}) in tenant {row.tenant_name} ({row.tenant_id})"
        )

    run(main())


@admin.command("set-plan")
def set_plan(
    tenant: Annotated[str, typer.Option(help="Tenant id, or the email of one of its users")],
    plan: Annotated[str, typer.Option(help="free, pro or paygo")],
) -> None:
    """Put a tenant on the free, pro or paygo plan."""

    async def main() -> None:
        deps = await admin_deps(load_settings())
        try:
            row = await auth_admin.set_plan(deps, tenant, plan)
        finally:
            await deps.aclose()
        typer.echo(f"tenant {row.name} ({row.id}) is on the {row.plan} plan")

    run(main())


@admin.command("list-users")
def list_users(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (id or a member's email)")] = None,
    limit: Annotated[
        int, typer.Option(min=1, help="At most this many users")
    ] = auth_admin.DEFAULT_LIST_LIMIT,
) -> None:
    """List users, oldest first."""

    async def main() -> None:
        deps = await admin_deps(load_settings())
        try:
            rows = await auth_admin.list_users(deps, tenant=tenant, limit=limit)
        finally:
            await deps.aclose()
        header = ("EMAIL", "NAME", "ROLE", "TENANT", "PLAN", "ACTIVE", "LAST LOGIN", "ID")
        lines = [header] + [
            (
                row.email,
                row.name,
                row.role,
                row.tenant_name,
                row.plan,
                "yes" if row.is_active else "no",
                row.last_login_at.isoformat(timespec="seconds") if row.last_login_at else "-",
                row.id,
            )
            for row in rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            typer.echo(
                "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            )

    run(main())


audit = typer.Typer(help="The audit log: check that no entry was edited or removed.")
admin.add_typer(audit, name="audit")


@audit.command("verify")
def audit_verify(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's chain (a tenant id)")] = None,
) -> None:
    """Recompute the audit log's hash chains (every tenant's, or one) and report the first broken link."""
    outcome: list[ChainReport] = []

    async def main() -> None:
        from services.audit.service import AuditService

        tenant_id = None
        if tenant is not None and (tenant_id := parse_id(tenant)) is None:
            raise CliError(f"--tenant: {tenant!r} is not a tenant id")
        deps = await admin_deps(load_settings())
        try:
            outcome.append(await AuditService(deps.database, deps.channels).verify(tenant_id))
        finally:
            await deps.aclose()

    run(main())
    report = outcome[0]
    if report.broken is None:
        typer.echo(f"audit chain ok: {report.checked} entries")
        return
    broken = report.broken
    typer.echo(
        f"audit chain BROKEN at entry {broken.event_id} (seq {broken.seq}, tenant {broken.tenant_id}): "
        f"{broken.reason}"
    )
    raise typer.Exit(1)
