"""The Prometheus metrics every process exports at /metrics, in one registry of our own.

A registry of our own (not the global default) keeps test runs and embedded processes from double-registering,
and lets `render_metrics` serve exactly what this process measures.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Latency buckets from sub-millisecond cache hits to a long chat stream.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

GRPC_SERVER_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["service", "method", "code"],
    registry=REGISTRY,
)
GRPC_SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from an RPC's arrival to its completion (whole stream for server streams).",
    ["service", "method"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered by the gateway, by route and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "http_request_seconds",
    "Time to answer an HTTP request, by route.",
    ["method", "route"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)


def render_metrics() -> tuple[bytes, str]:
    """The exposition body and its content type, for the /metrics endpoint."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
