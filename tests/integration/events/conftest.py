"""Fixtures of the audit harness (tests/integration/audit/harness.py)."""

from tests.integration.audit.harness import audit_platform, start_audit
from tests.integration.auth.harness import database_url, platform, start_platform

__all__ = ["audit_platform", "database_url", "platform", "start_audit", "start_platform"]
