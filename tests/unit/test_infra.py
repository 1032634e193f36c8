"""The deployment files parse and wire every service (Docker and Kubernetes cannot run here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.runtime.settings import SERVICES, Settings

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed in this venv")

INFRA = Path(__file__).resolve().parents[2] / "infra"
KNOWN_VARIABLES = {f"GEKO_{name.upper()}" for name in Settings.model_fields}
ADDR_VARIABLES = {f"GEKO_{service.upper()}_ADDR" for service in SERVICES}


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_objects() -> list[dict[str, Any]]:
    return [doc for path in sorted((INFRA / "k8s").glob("*.yaml")) for doc in load_all(path)]


def test_k8s_has_a_deployment_and_a_service_per_process() -> None:
    objects = k8s_objects()
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}

    expected = {f"geko-{name}" for name in (*SERVICES, "gateway")}
    assert deployments == expected
    assert services == expected


def test_k8s_config_names_only_real_settings_and_every_address() -> None:
    objects = k8s_objects()
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    secret = next(o for o in objects if o["kind"] == "Secret")["stringData"]

    assert set(config) | set(secret) <= KNOWN_VARIABLES
    assert set(config) >= ADDR_VARIABLES


def test_k8s_deployments_run_geko_serve_on_their_address_port() -> None:
    config = next(o for o in k8s_objects() if o["kind"] == "ConfigMap")["data"]
    for service in SERVICES:
        deployment = load_all(INFRA / "k8s" / f"{service}.yaml")[0]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        port = config[f"GEKO_{service.upper()}_ADDR"].rsplit(":", 1)[1]

        assert container["args"] == ["serve", service, "--port", port]


def test_compose_runs_every_service_with_the_shared_settings() -> None:
    compose = load_all(INFRA / "docker-compose.yml")[0]
    services = compose["services"]

    for name in (*SERVICES, "gateway"):
        assert services[name]["command"][:2] == ["serve", name]
        environment = services[name]["environment"]
        assert set(environment) <= KNOWN_VARIABLES
        assert set(environment) >= ADDR_VARIABLES | {"GEKO_DATABASE_URL", "GEKO_REDIS_URL"}
        port = environment[f"GEKO_{name.upper()}_ADDR"].rsplit(":", 1)[1] if name != "gateway" else "8000"
        assert services[name]["command"][-1] == port
    assert services["migrate"]["command"] == ["migrate"]


def test_dockerfile_installs_from_the_hashed_lock_as_a_non_root_user() -> None:
    dockerfile = (INFRA / "Dockerfile").read_text()

    assert "FROM python:3.11-slim" in dockerfile
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "USER geko" in dockerfile
    assert 'ENTRYPOINT ["geko"]' in dockerfile
