"""Fixtures of the workspace tests: the auth + workspace gRPC harness and the fake SMTP server."""

from tests.fakes.smtp_server import smtp_server
from tests.integration.auth.harness import database_url, platform, start_platform

__all__ = ["database_url", "platform", "smtp_server", "start_platform"]
