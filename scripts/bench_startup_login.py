"""Measure what a new user feels first: `geko up` cold start and login latency.

Cold start: process start → /health 200 on a fresh data dir (migrations, seed, first admin included),
median of `--runs`. Login: `--logins` sequential `login` mutations over HTTP against one running platform,
p50 and p95.
Run with the project venv:  .venv/bin/python scripts/bench_startup_login.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.processes import (
    GekoProcess,
    free_port,
    geko_env,
    graphql,
    health_ok,
    start_geko,
    wait_until,
)

EMAIL = "bench@geko.example"
PASSWORD = "bench-Passw0rd-1"
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"


def start(workdir: Path) -> tuple[GekoProcess, str, float]:
    """A fresh `geko up`; returns it, its URL and the seconds from spawn to /health 200."""
    port = free_port()
    env = geko_env(
        data_dir=str(workdir / "data"),
        admin_email=EMAIL,
        admin_password=PASSWORD,
        # Sequential logins from one IP would otherwise hit the (correct) rate limit.
        login_rate_per_ip="1000000",
        login_rate_per_email="1000000",
    )
    started = time.perf_counter()
    process = start_geko(["up", "--port", str(port)], env=env, cwd=workdir, name="bench")
    base_url = f"http://127.0.0.1:{port}"
    wait_until(health_ok(base_url), processes=[process], what="healthy")
    return process, base_url, time.perf_counter() - started


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="cold starts to take the median of")
    parser.add_argument("--logins", type=int, default=200, help="sequential logins to time")
    args = parser.parse_args()

    cold_starts: list[float] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="geko-bench-") as tmp:
            process, base_url, seconds = start(Path(tmp))
            cold_starts.append(seconds)
            try:
                if run == args.runs - 1:
                    latencies = time_logins(base_url, args.logins)
            finally:
                process.stop()

    median = statistics.median(cold_starts)
    print(f"geko up cold start (spawn → /health 200, fresh data dir): median {median:.2f} s")
    print("  runs: " + ", ".join(f"{s:.2f} s" for s in cold_starts))
    print(
        f"login over GraphQL ({len(latencies)} sequential): "
        f"p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p95 {percentile(latencies, 0.95) * 1000:.1f} ms"
    )


def time_logins(base_url: str, count: int) -> list[float]:
    latencies: list[float] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        variables = {"input": {"email": EMAIL, "password": PASSWORD}}
        graphql(client, LOGIN, variables)  # warm the connection
        for _ in range(count):
            started = time.perf_counter()
            body = graphql(client, LOGIN, variables)
            latencies.append(time.perf_counter() - started)
            if "errors" in body:
                sys.exit(f"login failed: {body['errors']}")
    return latencies


if __name__ == "__main__":
    main()
