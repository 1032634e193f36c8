"""OllamaClient against the fake Ollama over real HTTP: pull progress to success, failing and interrupted
pulls, and the delete/tags round trip the model service's installs rest on."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from services.providers.errors import MODEL_NOT_FOUND, PROVIDER_ERROR, STREAM_CUT, UNREACHABLE
from services.providers.ollama import OllamaClient, PullProgress, PullTotals, PullTracker
from services.runtime.errors import NotFound, UpstreamUnavailable
from tests.fakes.ollama_server import VERSION, OllamaServer, layer_digest, ollama_server

__all__ = ["ollama_server"]  # the fixture, used by the tests below


@pytest_asyncio.fixture
async def ollama(ollama_server: OllamaServer) -> AsyncIterator[OllamaClient]:
    client = OllamaClient(ollama_server.base_url, read_timeout=10.0)
    try:
        yield client
    finally:
        await client.aclose()


async def pull_totals(ollama: OllamaClient, name: str) -> list[PullTotals]:
    tracker = PullTracker()
    return [tracker.update(progress) async for progress in ollama.pull(name)]


async def test_a_pull_reports_monotonic_progress_that_ends_in_success(
    ollama_server: OllamaServer, ollama: OllamaClient
) -> None:
    # when
    totals = await pull_totals(ollama, "qwen2.5:0.5b")
    # then bytes and percent only go forward, through downloading and verifying, to success
    completed = [t.completed_bytes for t in totals]
    percents = [t.percent for t in totals]
    assert completed == sorted(completed)
    assert percents == sorted(percents)
    phases = [t.phase for t in totals]
    assert phases[0] == "downloading"
    assert "verifying" in phases
    assert phases.index("verifying") > max(i for i, p in enumerate(phases) if p == "downloading")
    assert totals[-1] == PullTotals(
        phase="success", completed_bytes=401_500, total_bytes=401_500, percent=100
    )
    assert 0 < percents[len(percents) // 2] < 100  # progress in between, not a jump
    assert ollama_server.requests_to("/api/pull")[0].body == {"model": "qwen2.5:0.5b", "stream": True}
    # and the model is now installed
    assert "qwen2.5:0.5b" in [m.name for m in await ollama.tags()]


async def test_pull_lines_carry_the_layer_digests_and_byte_counts(
    ollama_server: OllamaServer, ollama: OllamaClient
) -> None:
    lines = [p async for p in ollama.pull("qwen2.5:0.5b")]
    assert lines[0] == PullProgress(status="pulling manifest", digest=None, total=None, completed=None)
    first_layer = layer_digest("qwen2.5:0.5b", 0)
    layer_lines = [p for p in lines if p.digest == first_layer]
    assert layer_lines[0].completed is None  # Ollama leaves out a zero
    assert layer_lines[-1].completed == layer_lines[-1].total == 400_000
    assert lines[-1].status == "success"


async def test_a_failing_pull_raises_with_ollamas_reason_and_installs_nothing(
    ollama_server: OllamaServer, ollama: OllamaClient
) -> None:
    # given
    ollama_server.pull_mode = "fail"
    ollama_server.fail_message = "max retries exceeded: unexpected EOF"
    tracker = PullTracker()
    seen: list[PullTotals] = []
    # when
    with pytest.raises(UpstreamUnavailable) as caught:
        await _drain(ollama, "qwen2.5:0.5b", tracker, seen)
    # then
    assert caught.value.reason == PROVIDER_ERROR
    assert "max retries exceeded: unexpected EOF" in caught.value.message
    assert seen
    assert seen[-1].phase == "downloading"
    assert "qwen2.5:0.5b" not in [m.name for m in await ollama.tags()]


async def test_a_pull_whose_connection_drops_is_a_cut_stream(
    ollama_server: OllamaServer, ollama: OllamaClient
) -> None:
    ollama_server.pull_mode = "cut"
    seen: list[PullTotals] = []
    with pytest.raises(UpstreamUnavailable) as caught:
        await _drain(ollama, "qwen2.5:0.5b", PullTracker(), seen)
    assert caught.value.reason == STREAM_CUT
    assert seen[-1].completed_bytes > 0
    assert "qwen2.5:0.5b" not in [m.name for m in await ollama.tags()]


async def _drain(ollama: OllamaClient, name: str, tracker: PullTracker, into: list[PullTotals]) -> None:
    async for progress in ollama.pull(name):
        into.append(tracker.update(progress))


async def test_pulling_a_model_the_library_does_not_have_is_model_not_found(ollama: OllamaClient) -> None:
    with pytest.raises(NotFound) as caught:
        await pull_totals(ollama, "no-such-model:7b")
    assert caught.value.reason == MODEL_NOT_FOUND


async def test_closing_a_pull_part_way_closes_the_connection_and_installs_nothing(
    ollama_server: OllamaServer, ollama: OllamaClient
) -> None:
    ollama_server.pull_mode = "slow"
    ollama_server.delay = 0.2
    pull = ollama.pull("qwen2.5:0.5b")
    first = await anext(pull)
    assert first.status == "pulling manifest"
    await pull.aclose()  # type: ignore[attr-defined]
    assert await ollama_server.wait_for_disconnect() == "/api/pull"
    assert "qwen2.5:0.5b" not in [m.name for m in await ollama.tags()]


async def test_delete_and_tags_round_trip(ollama_server: OllamaServer, ollama: OllamaClient) -> None:
    # given the preinstalled model
    [installed] = await ollama.tags()
    assert installed.name == installed.model == "llama3.2:latest"
    assert installed.size == 2_012_096
    assert len(installed.digest) == 64
    assert installed.modified_at
    # when it is deleted
    await ollama.delete("llama3.2")
    # then it is gone, and deleting it again is NotFound
    assert await ollama.tags() == []
    assert ollama_server.requests_to("/api/delete")[0].body == {"model": "llama3.2"}
    with pytest.raises(NotFound) as caught:
        await ollama.delete("llama3.2")
    assert caught.value.reason == MODEL_NOT_FOUND


async def test_version_answers_for_health(ollama: OllamaClient) -> None:
    assert await ollama.version() == VERSION


async def test_a_shared_client_is_used_and_left_open(ollama_server: OllamaServer) -> None:
    async with httpx.AsyncClient() as shared:
        ollama = OllamaClient(ollama_server.base_url, client=shared, api_key="proxy-secret-3")
        assert await ollama.version() == VERSION
        await ollama.aclose()
        assert not shared.is_closed
    assert ollama_server.requests[0].headers["authorization"] == "Bearer proxy-secret-3"


async def test_nothing_listening_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with OllamaClient(f"http://127.0.0.1:{port}", connect_timeout=2.0) as ollama:
        with pytest.raises(UpstreamUnavailable) as caught:
            await ollama.version()
        assert caught.value.reason == UNREACHABLE
        with pytest.raises(UpstreamUnavailable) as caught:
            await pull_totals(ollama, "llama3.2")
        assert caught.value.reason == UNREACHABLE
