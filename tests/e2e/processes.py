"""Run `geko` as a real child process and talk to it over HTTP: shared by the e2e and distributed tests
and by scripts/bench_startup_login.py."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

GEKO = Path(sys.executable).with_name("geko")


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port nobody listens on right now, below the kernel's ephemeral range: a port the OS hands
    out for a `:0` bind (a child's own gRPC port, any client socket) can then never take it between this pick
    and the child's listen."""
    floor = _ephemeral_floor()
    while True:
        port = random.randrange(20_000, floor)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def geko_env(**settings: str) -> dict[str, str]:
    """The current environment without any GEKO_* variable, plus `settings` (names without the prefix)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GEKO_")}
    env.update({f"GEKO_{name.upper()}": value for name, value in settings.items()})
    return env


@dataclass
class GekoProcess:
    """A running `geko …` child; its stdout and stderr go to `log_path`."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def exited(self) -> bool:
        return self.process.poll() is not None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then the exit code; SIGKILL (and an AssertionError) if it does not exit in `timeout`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            message = f"geko did not exit within {timeout}s of SIGTERM:\n{self.output()}"
            raise AssertionError(message) from None


def start_geko(args: list[str], *, env: Mapping[str, str], cwd: Path, name: str = "geko") -> GekoProcess:
    log_path = cwd / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(GEKO), *args], env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
    return GekoProcess(process, log_path)


def wait_until(
    ready: Callable[[], bool], *, processes: list[GekoProcess], timeout: float = 90.0, what: str = "ready"
) -> None:
    """Poll `ready` until it holds; fail early with the logs when a process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in processes:
            if child.exited():
                raise AssertionError(f"{child.log_path.name} exited early:\n{child.output()}")
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    logs = "\n".join(f"--- {child.log_path.name}\n{child.output()}" for child in processes)
    raise AssertionError(f"not {what} after {timeout}s:\n{logs}")


def health_ok(base_url: str) -> Callable[[], bool]:
    return lambda: httpx.get(f"{base_url}/health", timeout=5).status_code == 200


def graphql(
    client: httpx.Client, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    """POST one GraphQL operation; returns the whole response body (`data` and maybe `errors`)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code in (200, 400), response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


def stop_all(processes: list[GekoProcess], timeout: float = 20.0) -> list[int]:
    """SIGTERM to every process at once, so their shutdowns overlap (once: a second SIGTERM cuts one short);
    then each exit code in order. One not exiting in time: all are killed, AssertionError raised."""
    for child in processes:
        if not child.exited():
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    try:
        return [child.process.wait(max(0.0, deadline - time.monotonic())) for child in processes]
    except subprocess.TimeoutExpired as timed_out:
        for child in processes:
            if not child.exited():
                child.process.kill()
                child.process.wait()
        logs = "\n".join(f"--- {child.log_path.name}\n{child.output()}" for child in processes)
        raise AssertionError(f"{timed_out.cmd} did not exit within {timeout}s of SIGTERM:\n{logs}") from None
