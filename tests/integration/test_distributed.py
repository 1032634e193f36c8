"""The distributed mode: auth, workspace and the gateway as separate `geko serve` processes sharing PostgreSQL
and Redis, wired only by GEKO_* settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from services.runtime.settings import SERVICES
from tests.e2e.processes import GEKO, error_codes, free_port, geko_env, graphql, start_geko, wait_until

pytestmark = pytest.mark.integration

REGISTER = """mutation($input: RegisterInput!) {
  register(input: $input) { accessToken user { id email role tenant { id name } } }
}"""
ME = "{ me { id email role tenant { id name } } }"


def service_statuses(base_url: str) -> dict[str, str]:
    """Each service's gRPC health as the gateway's /health reports it."""
    checks: dict[str, str] = httpx.get(f"{base_url}/health", timeout=10).json()["checks"]
    return {name: status for name, status in checks.items() if name in SERVICES}


def serving(statuses: dict[str, str]) -> set[str]:
    return {name for name, status in statuses.items() if status == "SERVING"}


def test_services_as_processes_on_postgres_and_redis(
    tmp_path: Path, fresh_pg_database: str, redis_url: str
) -> None:
    # Given a fresh database, a Redis db of this test's own and a port per process
    ports = {service: free_port() for service in SERVICES}
    gateway_port = free_port()
    env = geko_env(
        database_url=fresh_pg_database,
        redis_url=redis_url.rsplit("/", 1)[0] + "/13",
        data_dir=str(tmp_path / "data"),
        log_json="true",
        **{f"{service}_addr": f"127.0.0.1:{port}" for service, port in ports.items()},
    )
    migrate = subprocess.run([str(GEKO), "migrate"], env=env, cwd=tmp_path, capture_output=True, timeout=120)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    processes = [
        start_geko(["serve", "auth"], env=env, cwd=tmp_path, name="auth"),
        start_geko(["serve", "workspace"], env=env, cwd=tmp_path, name="workspace"),
        start_geko(["serve", "gateway", "--port", str(gateway_port)], env=env, cwd=tmp_path, name="gateway"),
    ]
    base_url = f"http://127.0.0.1:{gateway_port}"
    try:
        # When the gateway sees both services
        wait_until(
            lambda: {"auth", "workspace"} <= serving(service_statuses(base_url)),
            processes=processes,
            what="auth and workspace SERVING",
        )
        statuses = service_statuses(base_url)

        # Then a user registers through the gateway (auth → workspace over gRPC) and reads themself back
        with httpx.Client(base_url=base_url, timeout=15) as client:
            new_user = {"email": "grace@dist.example", "password": "distributed-9", "name": "Grace"}
            body = graphql(client, REGISTER, {"input": {**new_user, "tenantName": "Navy"}})
            assert "errors" not in body, body
            registered = body["data"]["register"]
            me = graphql(client, ME, token=registered["accessToken"])
            assert me["data"]["me"] == {k: registered["user"][k] for k in ("id", "email", "role", "tenant")}
            assert error_codes(graphql(client, ME, token="not-a-token")) == ["UNAUTHENTICATED"]

        assert statuses["auth"] == "SERVING"
        assert statuses["workspace"] == "SERVING"
        assert statuses["chat"] != "SERVING"  # not started: the gateway reports it, it does not pretend
    finally:
        exit_codes = [process.stop() for process in processes]
    assert exit_codes == [0, 0, 0]
