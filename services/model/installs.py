"""Local model installs through Ollama: jobs that pull a model, their progress, and removing a model.

The `model_install_jobs` row is the truth; progress also goes out on the pub/sub channel of the job, so any
number of watchers, in any process, follow it live. A watcher subscribes first, then reads the row, so no
event falls between the two. The pull runs in a background task of the process that started it: a caller
that disconnects leaves it running. Percent never goes down within a job (Ollama announces layers one after
another, so the total grows while it pulls: every reader clamps to the highest percent seen).

A running pull holds a lease in the shared cache (Redis across processes), renewed every few seconds. A job
whose lease lapsed lost its process; a model service process settles such jobs at its start, and so does a
watcher that heard nothing for a whole lease: a model Ollama now lists is `ready` (the pull got there),
anything else is `error` "interrupted by a restart" (a new InstallModel pulls again, and Ollama resumes the
partial download). Watchers hear the settled state like any other. At start, `ready` jobs whose model Ollama
no longer lists are forgotten, so the installed state follows `/api/tags`; RemoveModel forgets them too (a
model is installed for a tenant while it has a `ready` job: installs_repository.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.models.model import ModelCatalog, ModelInstallJob
from geko.model.v1 import model_pb2
from services.events.audit import AuditAction, record_audit
from services.model.installs_repository import TERMINAL_STATUSES, InstallsRepository
from services.providers.ollama import OllamaClient, PullTotals, PullTracker
from services.runtime.access import WorkspaceAccess, canonical_workspace_id, require_user
from services.runtime.backends import Backends
from services.runtime.database import Database
from services.runtime.errors import BadInput, GekoError, NotFound
from services.runtime.ids import new_id, parse_id
from services.runtime.logging import get_logger
from services.runtime.messages import timestamp
from services.runtime.server import ServiceDeps

SERVICE = "model"
INSTALL_PERMISSION = "model:install"
REMOVE_PERMISSION = "model:remove"
INTERRUPTED = "interrupted by a restart"
# Progress is written and published at most this often while bytes arrive, or when a whole percent passed.
PROGRESS_INTERVAL_SECONDS = 0.25
# A running pull's lease in the shared cache, renewed every third of it; a job without one lost its process.
LEASE_SECONDS = 15.0

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Progress:
    """One report of a job: what the row says and what goes out on the job's channel."""

    job_id: str
    status: str
    completed_bytes: int
    total_bytes: int
    percent: float
    error: str = ""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> Progress:
        return cls(**json.loads(data))

    @classmethod
    def of(cls, row: ModelInstallJob) -> Progress:
        total = row.total_bytes or 0
        return cls(
            job_id=row.id,
            status=row.status,
            completed_bytes=row.completed_bytes,
            total_bytes=total,
            percent=_percent(row.status, row.completed_bytes, total),
            error=row.error or "",
        )


def _percent(status: str, completed: int, total: int) -> float:
    if status == "ready":
        return 100.0
    return min(100.0, completed * 100.0 / total) if total > 0 else 0.0


def channel_of(job_id: str) -> str:
    return f"model-install:{job_id}"


def lease_key(job_id: str) -> str:
    return f"model-install-lease:{job_id}"


@dataclass(frozen=True, slots=True)
class _Target:
    """What a running pull is about: its job, who and where it was started for, and Ollama's model name."""

    job_id: str
    tenant_id: str
    workspace_id: str
    model_id: str
    name: str


class InstallService:
    """Starts, runs, reports and settles install jobs; removes installed models."""

    def __init__(
        self,
        database: Database,
        access: WorkspaceAccess,
        backends: Backends,
        ollama: Callable[[], OllamaClient],
    ) -> None:
        self._database = database
        self._access = access
        self._cache = backends.cache
        self._pubsub = backends.pubsub
        self._ollama = ollama  # a client per operation: no idle connection outlives it
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._start_lock = asyncio.Lock()
        self._recovered: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, deps: ServiceDeps, access: WorkspaceAccess) -> InstallService:
        """The service on the platform's Ollama (GEKO_OLLAMA_URL); settles leftovers once a loop runs."""
        url = deps.settings.ollama_url
        service = cls(deps.database, access, deps.backends, lambda: OllamaClient(url))
        with contextlib.suppress(RuntimeError):  # no running loop yet: the first RPC starts it
            service.start()
        return service

    # ---- what dead processes leave ----

    def start(self) -> None:
        """Settles what dead processes left, in the background (once the event loop runs)."""
        if self._recovered is None:
            self._recovered = asyncio.get_running_loop().create_task(self.recover())

    async def _ready(self) -> None:
        self.start()
        assert self._recovered is not None
        try:
            await asyncio.shield(self._recovered)
        except Exception:
            self._recovered = None  # the next call tries again (e.g. the database was not up yet)
            raise

    async def recover(self) -> None:
        """At startup: ready models Ollama no longer lists are forgotten, and orphaned jobs are settled."""
        present = await self._present()
        if present is not None:
            async with self._database.transaction() as session:
                repository = InstallsRepository(session)
                ready = await repository.ready_jobs()
                names = await repository.model_names({job.model_id for job in ready})
                for job in ready:
                    if not _listed(names.get(job.model_id), present):
                        await repository.forget_installed(job.tenant_id, job.model_id)
        await self.settle_orphans()

    async def settle_orphans(self) -> None:
        """Unfinished jobs whose lease no live process renews: `ready` if Ollama lists the model (the pull got
        there), else `error` "interrupted by a restart"; each audited and published to its watchers. Without
        an answer from Ollama they are all interrupted."""
        async with self._database.session() as session:
            unfinished = await InstallsRepository(session).unfinished_jobs()
        orphans = [job for job in unfinished if await self._cache.get(lease_key(job.id)) is None]
        if not orphans:
            return
        present = await self._present() or set()
        settled: list[Progress] = []
        async with self._database.transaction() as session:
            repository = InstallsRepository(session)
            names = await repository.model_names({job.model_id for job in orphans})
            for job in orphans:
                total = job.total_bytes or 0
                if _listed(names.get(job.model_id), present):
                    progress = Progress(job.id, "ready", total, total, 100.0)
                else:
                    percent = Progress.of(job).percent
                    progress = Progress(job.id, "error", job.completed_bytes, total, percent, INTERRUPTED)
                if await _save_row(repository, progress, only_if_unfinished=True):
                    await _audit_end(session, progress, job.tenant_id, None, job.model_id)
                    settled.append(progress)
        for progress in settled:
            await self._pubsub.publish(channel_of(progress.job_id), progress.encode())
        log.info("model_install_jobs_settled", count=len(settled))

    async def _present(self) -> set[str] | None:
        """The names Ollama lists now; None when it does not answer."""
        try:
            async with self._ollama() as ollama:
                return {model.name for model in await ollama.tags()}
        except GekoError as error:
            log.warning("model_install_tags_unavailable", error=error.message)
            return None

    async def _hold(self, job_id: str) -> None:
        await self._cache.set(lease_key(job_id), b"1", ttl_seconds=LEASE_SECONDS)

    async def aclose(self) -> None:
        """Stops the running pulls (the process is going away; their leases lapse and another process, or
        the next start, settles their rows)."""
        tasks = [task for task in (*self._tasks.values(), self._recovered) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    # ---- the RPCs ----

    async def install(self, model_id: str, workspace_id: str) -> str:
        """Starts a pull of a local model, or joins the tenant's running one; the job's id."""
        await self._ready()
        workspace_id = canonical_workspace_id(workspace_id)
        principal = await self._access.require(workspace_id, INSTALL_PERMISSION)
        await self.settle_orphans()  # a job whose process died is not one to join
        async with self._start_lock:
            async with self._database.transaction() as session:
                repository = InstallsRepository(session)
                model = await _local_model(repository, principal.tenant_id, model_id)
                running = await repository.active_job(principal.tenant_id, model.id)
                if running is not None:
                    return running.id
                job_id = new_id()
                await self._hold(job_id)  # before the row exists, so it is never taken for an orphan
                job = await repository.add_job(
                    job_id, principal.tenant_id, model.id, principal.user_id or None
                )
                await record_audit(
                    session,
                    service=SERVICE,
                    action=AuditAction.MODEL_INSTALL_STARTED,
                    tenant_id=principal.tenant_id,
                    workspace_id=workspace_id,
                    resource_type="model",
                    resource_id=model.id,
                    details={"job_id": job.id},
                )
                target = _Target(job.id, principal.tenant_id, workspace_id, model.id, model.name)
            self._tasks[target.job_id] = asyncio.get_running_loop().create_task(self._run(target))
        return target.job_id

    async def get(self, job_id: str) -> ModelInstallJob:
        await self._ready()
        principal = require_user()
        canonical = parse_id(job_id)
        if canonical is None:
            raise NotFound("install job not found")
        async with self._database.session() as session:
            job = await InstallsRepository(session).job(principal.tenant_id, canonical)
        if job is None:
            raise NotFound("install job not found")
        return job

    async def watch(self, job_id: str) -> AsyncIterator[Progress]:
        """The job's current state, then its live progress, until ready or error. A silence as long as a
        lease makes the watcher settle orphaned jobs: if the pulling process died, this one ends the job."""
        job = await self.get(job_id)  # tenant check first: another tenant's job is not found
        async with self._pubsub.subscribe(channel_of(job.id)) as events:
            current = await self._current(job.id)
            yield current
            if current.terminal:
                return
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            pump = asyncio.get_running_loop().create_task(_pump(events, queue))
            try:
                while not current.terminal:
                    try:
                        report = Progress.decode(await asyncio.wait_for(queue.get(), LEASE_SECONDS))
                    except TimeoutError:
                        await self.settle_orphans()
                        report = await self._current(job.id)
                        if not report.terminal:
                            continue
                    if report.percent < current.percent:
                        report = Progress(**{**asdict(report), "percent": current.percent})
                    current = report
                    yield report
            finally:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)

    async def _current(self, job_id: str) -> Progress:
        async with self._database.session() as session:
            row = await InstallsRepository(session).job_by_id(job_id)
        assert row is not None  # jobs are never deleted while unfinished
        return Progress.of(row)

    async def remove(self, model_id: str, workspace_id: str) -> ModelCatalog:
        """Deletes a local model from Ollama and marks it not installed for the tenant."""
        await self._ready()
        workspace_id = canonical_workspace_id(workspace_id)
        principal = await self._access.require(workspace_id, REMOVE_PERMISSION)
        async with self._database.session() as session:
            model = await _local_model(InstallsRepository(session), principal.tenant_id, model_id)
        async with self._ollama() as ollama:
            await ollama.delete(model.name)  # NotFound when Ollama does not have it
        async with self._database.transaction() as session:
            await InstallsRepository(session).forget_installed(principal.tenant_id, model.id)
            await record_audit(
                session,
                service=SERVICE,
                action=AuditAction.MODEL_REMOVED,
                tenant_id=principal.tenant_id,
                workspace_id=workspace_id,
                resource_type="model",
                resource_id=model.id,
            )
        return model

    # ---- the pull ----

    async def _run(self, target: _Target) -> None:
        reporter = _Reporter(self, target)
        tracker = PullTracker()
        renewing = asyncio.get_running_loop().create_task(self._renew(target.job_id))
        try:
            try:
                async with self._ollama() as ollama:
                    async for line in ollama.pull(target.name):
                        await reporter.report(tracker.update(line))
            except GekoError as error:
                await reporter.finish("error", error.message)
            except Exception as error:  # the job must end in a state, whatever broke
                log.exception("model_install_failed", job_id=target.job_id)
                await reporter.finish("error", f"install failed: {type(error).__name__}")
            else:
                await reporter.finish("ready")
            await self._cache.delete(lease_key(target.job_id))
        finally:
            renewing.cancel()
            self._tasks.pop(target.job_id, None)

    async def _renew(self, job_id: str) -> None:
        """Keeps the job's lease while its pull runs (three renewals per lease)."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self._hold(job_id)
            except Exception:  # a cache outage: the next renewal tries again
                log.exception("model_install_lease_renewal_failed", job_id=job_id)

    async def _save(self, progress: Progress, *, end: _Target | None = None) -> None:
        """Writes the row (and, for the end of the job, its audit event), then tells the watchers."""
        async with self._database.transaction() as session:
            # Progress only moves an unfinished job (it may have been settled as an orphan); the end lands.
            changed = await _save_row(InstallsRepository(session), progress, only_if_unfinished=end is None)
            if end is not None:
                await _audit_end(session, progress, end.tenant_id, end.workspace_id, end.model_id)
        if changed or end is not None:
            await self._pubsub.publish(channel_of(progress.job_id), progress.encode())


async def _save_row(
    repository: InstallsRepository, progress: Progress, *, only_if_unfinished: bool = False
) -> bool:
    return await repository.save_progress(
        progress.job_id,
        status=progress.status,
        completed_bytes=progress.completed_bytes,
        total_bytes=progress.total_bytes or None,
        error=progress.error or None,
        only_if_unfinished=only_if_unfinished,
    )


async def _audit_end(
    session: AsyncSession, progress: Progress, tenant_id: str, workspace_id: str | None, model_id: str
) -> None:
    """MODEL_INSTALLED or MODEL_INSTALL_FAILED (with the reason) for a job that just ended."""
    ready = progress.status == "ready"
    await record_audit(
        session,
        service=SERVICE,
        action=AuditAction.MODEL_INSTALLED if ready else AuditAction.MODEL_INSTALL_FAILED,
        tenant_id=tenant_id,
        workspace_id=workspace_id,
        resource_type="model",
        resource_id=model_id,
        details={"job_id": progress.job_id} | ({} if ready else {"error": progress.error}),
    )


class _Reporter:
    """Turns a pull's running totals into throttled row writes and published events."""

    def __init__(self, service: InstallService, target: _Target) -> None:
        self._service = service
        self._target = target
        self._status = "queued"
        self._totals = PullTotals("downloading", 0, 0, 0)
        self._saved_at = 0.0
        self._saved_percent = 0

    async def report(self, totals: PullTotals) -> None:
        status = "downloading" if totals.phase == "downloading" else "verifying"
        now = time.monotonic()
        due = (
            status != self._status
            or now - self._saved_at >= PROGRESS_INTERVAL_SECONDS
            or totals.percent - self._saved_percent >= 1
        )
        self._status, self._totals = status, totals
        if due:
            self._saved_at, self._saved_percent = now, totals.percent
            await self._service._save(self._progress())

    async def finish(self, status: str, error: str = "") -> None:
        self._status = status
        await self._service._save(self._progress(error), end=self._target)

    def _progress(self, error: str = "") -> Progress:
        totals = self._totals
        percent = 100.0 if self._status == "ready" else float(totals.percent)
        completed = totals.total_bytes if self._status == "ready" else totals.completed_bytes
        return Progress(self._target.job_id, self._status, completed, totals.total_bytes, percent, error)


async def _local_model(repository: InstallsRepository, tenant_id: str, model_id: str) -> ModelCatalog:
    if not model_id:
        raise BadInput("model_id is required", field="model_id")
    model = await repository.local_model(tenant_id, model_id)
    if model is None:
        raise NotFound("model not found")
    if not model.is_local or model.provider != "ollama":
        raise BadInput("only local (Ollama) models are installed", field="model_id", reason="NOT_LOCAL")
    return model


def _listed(name: str | None, present: set[str]) -> bool:
    """Ollama lists "llama2" as "llama2:latest"."""
    return name is not None and (name in present or f"{name}:latest" in present)


_STATUS_MESSAGES = {
    "queued": model_pb2.INSTALL_STATUS_QUEUED,
    "downloading": model_pb2.INSTALL_STATUS_DOWNLOADING,
    "verifying": model_pb2.INSTALL_STATUS_VERIFYING,
    "ready": model_pb2.INSTALL_STATUS_READY,
    "error": model_pb2.INSTALL_STATUS_ERROR,
}


def progress_message(progress: Progress) -> model_pb2.InstallProgress:
    return model_pb2.InstallProgress(
        job_id=progress.job_id,
        status=_STATUS_MESSAGES[progress.status],
        completed_bytes=progress.completed_bytes,
        total_bytes=progress.total_bytes,
        percent=progress.percent,
        error=progress.error,
    )


def job_message(row: ModelInstallJob) -> model_pb2.InstallJob:
    return model_pb2.InstallJob(
        id=row.id,
        model_id=row.model_id,
        tenant_id=row.tenant_id,
        created_by=row.created_by or "",
        progress=progress_message(Progress.of(row)),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


async def _pump(events: AsyncIterator[bytes], queue: asyncio.Queue[bytes]) -> None:
    """Moves a subscription's messages to a queue, which (unlike the subscription) may be awaited with a
    timeout without closing it."""
    async for data in events:
        await queue.put(data)
