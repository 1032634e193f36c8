"""All SQL of local model installs: the `model_install_jobs` rows, the persisted truth of every pull.

A model is installed for a tenant while the tenant has a `ready` job for it; removing it deletes those rows
(the audit log keeps the history), so "installed" never needs a second flag that could disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.model import ModelCatalog, ModelInstallJob
from services.runtime.clock import utcnow

ACTIVE_STATUSES = ("queued", "downloading", "verifying")
TERMINAL_STATUSES = ("ready", "error")


class InstallsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def local_model(self, tenant_id: str, model_id: str) -> ModelCatalog | None:
        """A catalog model the tenant can see (the platform's or its own), local or not."""
        row = await self._session.get(ModelCatalog, model_id)
        if row is None or row.tenant_id not in (None, tenant_id):
            return None
        return row

    async def job(self, tenant_id: str, job_id: str) -> ModelInstallJob | None:
        row = await self._session.get(ModelInstallJob, job_id)
        return row if row is not None and row.tenant_id == tenant_id else None

    async def job_by_id(self, job_id: str) -> ModelInstallJob | None:
        """For the background task, which runs outside any request (the id came from a tenant-checked row)."""
        return await self._session.get(ModelInstallJob, job_id)

    async def active_job(self, tenant_id: str, model_id: str) -> ModelInstallJob | None:
        query = (
            select(ModelInstallJob)
            .where(
                ModelInstallJob.tenant_id == tenant_id,
                ModelInstallJob.model_id == model_id,
                ModelInstallJob.status.in_(ACTIVE_STATUSES),
            )
            .order_by(ModelInstallJob.created_at.desc())
            .limit(1)
        )
        return (await self._session.scalars(query)).first()

    async def add_job(
        self, job_id: str, tenant_id: str, model_id: str, created_by: str | None
    ) -> ModelInstallJob:
        row = ModelInstallJob(
            id=job_id, tenant_id=tenant_id, model_id=model_id, created_by=created_by, status="queued"
        )
        self._session.add(row)
        await self._session.flush()
        return row

    async def installed_model_ids(self, tenant_id: str) -> set[str]:
        """Ids of the local models installed for the tenant (a `ready` job exists)."""
        query = select(ModelInstallJob.model_id).where(
            ModelInstallJob.tenant_id == tenant_id, ModelInstallJob.status == "ready"
        )
        return set((await self._session.scalars(query)).all())

    async def forget_installed(self, tenant_id: str, model_id: str) -> int:
        """Marks the model not installed for the tenant: its `ready` rows go; how many there were."""
        result = await self._session.execute(
            delete(ModelInstallJob).where(
                ModelInstallJob.tenant_id == tenant_id,
                ModelInstallJob.model_id == model_id,
                ModelInstallJob.status == "ready",
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def unfinished_jobs(self) -> Sequence[ModelInstallJob]:
        """Every tenant's jobs still queued, downloading or verifying (at startup: left by a dead process)."""
        query = select(ModelInstallJob).where(ModelInstallJob.status.in_(ACTIVE_STATUSES))
        return (await self._session.scalars(query)).all()

    async def ready_jobs(self) -> Sequence[ModelInstallJob]:
        query = select(ModelInstallJob).where(ModelInstallJob.status == "ready")
        return (await self._session.scalars(query)).all()

    async def model_names(self, model_ids: set[str]) -> dict[str, str]:
        """Catalog id → the upstream name Ollama knows it by."""
        if not model_ids:
            return {}
        rows = await self._session.execute(
            select(ModelCatalog.id, ModelCatalog.name).where(ModelCatalog.id.in_(model_ids))
        )
        return {model_id: name for model_id, name in rows.all()}

    async def save_progress(
        self,
        job_id: str,
        *,
        status: str,
        completed_bytes: int,
        total_bytes: int | None,
        error: str | None = None,
        only_if_unfinished: bool = False,
    ) -> bool:
        """Whether the row changed (`only_if_unfinished`: a job that ended meanwhile keeps its end)."""
        query = update(ModelInstallJob).where(ModelInstallJob.id == job_id)
        if only_if_unfinished:
            query = query.where(ModelInstallJob.status.in_(ACTIVE_STATUSES))
        result = await self._session.execute(
            query.values(
                status=status,
                completed_bytes=completed_bytes,
                total_bytes=total_bytes,
                error=error,
                updated_at=utcnow(),
            )
        )
        return bool(getattr(result, "rowcount", 0))
