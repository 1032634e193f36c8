"""A user's first minutes against the real thing: `geko up` as a child process, driven over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import (
    GekoProcess,
    error_codes,
    free_port,
    geko_env,
    graphql,
    health_ok,
    start_geko,
    wait_until,
)

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "root@journey.example"
ADMIN_PASSWORD = "first-admin-Passw0rd"

SESSION = "accessToken refreshToken expiresAt user { id email name role tenant { id name plan } }"
REGISTER = f"""mutation($input: RegisterInput!) {{ register(input: $input) {{ {SESSION} }} }}"""
LOGIN = f"""mutation($input: LoginInput!) {{ login(input: $input) {{ {SESSION} }} }}"""
REFRESH = f"""mutation($token: String!) {{ refreshToken(refreshToken: $token) {{ {SESSION} }} }}"""
LOGOUT = """mutation($token: String!) { logout(refreshToken: $token) }"""
ME = """{ me { id email name role tenant { id name plan } } }"""


def start_up(tmp_path: Path, **settings: str) -> tuple[GekoProcess, str]:
    port = free_port()
    env = geko_env(data_dir=str(tmp_path / "data"), log_json="true", **settings)
    platform = start_geko(["up", "--port", str(port)], env=env, cwd=tmp_path, name=f"geko-up-{port}")
    base_url = f"http://127.0.0.1:{port}"
    wait_until(health_ok(base_url), processes=[platform], what="healthy")
    return platform, base_url


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[GekoProcess, str]]:
    process, base_url = start_up(tmp_path, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD)
    try:
        yield process, base_url
    finally:
        if not process.exited():
            process.stop()


def login(client: httpx.Client, email: str, password: str) -> dict[str, Any]:
    body = graphql(client, LOGIN, {"input": {"email": email, "password": password}})
    assert "errors" not in body, body
    session: dict[str, Any] = body["data"]["login"]
    return session


def test_register_login_refresh_reuse_logout_over_http(platform: tuple[GekoProcess, str]) -> None:
    process, base_url = platform
    with httpx.Client(base_url=base_url, timeout=15) as client:
        # GraphiQL answers a browser.
        page = client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "graphiql" in page.text.lower()

        # register → a session for the new tenant's owner
        new_user = {"email": "Ada@Journey.example", "password": "correct-horse-9", "name": "Ada"}
        body = graphql(client, REGISTER, {"input": {**new_user, "tenantName": "Analytical"}})
        assert "errors" not in body, body
        registered = body["data"]["register"]
        assert registered["user"]["email"] == "ada@journey.example"
        assert registered["user"]["role"] == "owner"
        assert registered["user"]["tenant"]["name"] == "Analytical"

        # login → me
        session = login(client, "ada@journey.example", new_user["password"])
        me = graphql(client, ME, token=session["accessToken"])
        assert me["data"]["me"]["id"] == registered["user"]["id"]
        assert me["data"]["me"]["tenant"]["id"] == registered["user"]["tenant"]["id"]

        # refresh rotates: a new pair that works
        body = graphql(client, REFRESH, {"token": session["refreshToken"]})
        assert "errors" not in body, body
        rotated = body["data"]["refreshToken"]
        assert rotated["refreshToken"] != session["refreshToken"]
        me_again = graphql(client, ME, token=rotated["accessToken"])
        assert me_again["data"]["me"]["email"] == "ada@journey.example"

        # reusing the old refresh token is refused, and revokes its family (the rotated one too)
        reused = graphql(client, REFRESH, {"token": session["refreshToken"]})
        assert error_codes(reused) == ["UNAUTHENTICATED"]
        after_reuse = graphql(client, REFRESH, {"token": rotated["refreshToken"]})
        assert error_codes(after_reuse) == ["UNAUTHENTICATED"]

        # logout ends a session: its refresh token no longer works
        second = login(client, "ada@journey.example", new_user["password"])
        assert graphql(client, LOGOUT, {"token": second["refreshToken"]}) == {"data": {"logout": True}}
        assert error_codes(graphql(client, REFRESH, {"token": second["refreshToken"]})) == ["UNAUTHENTICATED"]

        # the first admin exists, with the credentials from the environment
        admin = login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert admin["user"]["role"] == "owner"

    output = process.output()
    assert f"GEKO is up: {base_url}/graphql" in output
    assert ADMIN_PASSWORD not in output  # a password given in the environment is never echoed

    assert process.stop(timeout=15) == 0


def test_first_start_prints_a_generated_admin_password_once(tmp_path: Path) -> None:
    process, base_url = start_up(tmp_path)
    try:
        match = re.search(r"password:\s*(\S+)", process.output())
        assert match, process.output()
        with httpx.Client(base_url=base_url, timeout=15) as client:
            admin = login(client, "admin@geko.example", match.group(1))
        assert admin["user"]["email"] == "admin@geko.example"
    finally:
        assert process.stop(timeout=15) == 0

    # A restart on the same data dir keeps the admin and prints no new password.
    restarted, _ = start_up(tmp_path)
    try:
        assert "password:" not in restarted.output()
    finally:
        assert restarted.stop(timeout=15) == 0
