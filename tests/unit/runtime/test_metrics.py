from prometheus_client.parser import text_string_to_metric_families

from services.runtime.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS, render_metrics


def test_render_metrics_exposes_every_family() -> None:
    HTTP_REQUESTS.labels("GET", "/health", "200").inc()
    HTTP_REQUEST_SECONDS.labels("GET", "/health").observe(0.003)

    body, content_type = render_metrics()
    families = {family.name for family in text_string_to_metric_families(body.decode())}

    assert content_type.startswith("text/plain")
    assert {
        "grpc_server_handled",
        "grpc_server_handling_seconds",
        "http_requests",
        "http_request_seconds",
    } <= families
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in body.decode()
