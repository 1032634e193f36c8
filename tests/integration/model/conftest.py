"""Fixtures of the model tests: auth + workspace + model on one gRPC server (harness.py)."""

from tests.integration.auth.harness import database_url
from tests.integration.model.harness import model_platform

__all__ = ["database_url", "model_platform"]
