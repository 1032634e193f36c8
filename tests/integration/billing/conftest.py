"""Fixtures of the billing tests: auth + workspace + model on one server, billing on another (harness.py)."""

from tests.integration.auth.harness import database_url
from tests.integration.billing.harness import billing_platform
from tests.integration.model.harness import model_platform

__all__ = ["billing_platform", "database_url", "model_platform"]
