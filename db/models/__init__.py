"""Every GEKO table, grouped by the service that owns it. Importing this package registers them all on
`Base.metadata` (what migrations are checked against)."""

from db.models import audit, auth, billing, memory, model, outbox, workspace
from db.models.base import Base

__all__ = ["Base", "audit", "auth", "billing", "memory", "model", "outbox", "workspace"]
