"""Fixtures of the auth + workspace gRPC harness (shared with tests/integration/workspace)."""

from tests.integration.auth.harness import database_url, platform, start_platform

__all__ = ["database_url", "platform", "start_platform"]
