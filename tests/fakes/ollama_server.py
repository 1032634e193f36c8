"""A small real Ollama server for tests (uvicorn on 127.0.0.1:0) speaking Ollama's HTTP API.

It follows https://github.com/ollama/ollama/blob/main/docs/api.md (and `api/types.go` for field names):
- `POST /api/chat`: `{"model", "messages", "stream", "options", "tools"}`. Streamed (the default) as NDJSON
  (`application/x-ndjson`), one object per line: `{"model", "created_at", "message": {"role": "assistant",
  "content": "<delta>"}, "done": false}`, tool calls as `message.tool_calls: [{"function": {"name",
  "arguments": {...}}}]` (arguments an object, no id), and a final `{"done": true, "done_reason": "stop",
  "total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
  "eval_duration"}`. With `"stream": false`, one JSON object with the whole message and the same counters.
  A model that is not installed answers 404 `{"error": "model \\"x\\" not found, try pulling it first"}`.
- `POST /api/pull`: `{"model", "stream"}` → NDJSON `{"status": "pulling manifest"}`, then per layer
  `{"status": "pulling <digest prefix>", "digest": "sha256:…", "total": n, "completed": m}` (the first line of
  a layer has no `completed`, as Go's `omitempty` drops a zero; layers interleave as parallel downloads do),
  then `verifying sha256 digest`, `writing manifest`, `success`. Failures arrive as a `{"error": "…"}` line
  after the 200 (an unknown model: `pull model manifest: file does not exist`).
- `DELETE /api/delete`: `{"model"}` → 200 (gin's `null`), or 404 `{"error": "model 'x' not found"}`.
- `GET /api/tags`: `{"models": [{"name", "model", "modified_at", "size", "digest", "details"}]}`: what was
  pulled (and preinstalled) minus what was deleted.
- `GET /api/version`: `{"version": "…"}`.
Model names without a tag mean `:latest`.

Modes for error tests (attributes, set between requests): `chat_mode` is one of "slow" (`delay` seconds
before each line), "fail_status" (`fail_status` + `{"error": fail_message}`), "cut" (two lines, then the
connection drops without the chunked terminator), "error_midstream" (two lines, then an `{"error": …}` line),
"no_done" (the body ends cleanly, but without the final `done: true` object).
`pull_mode` is "fail" (some progress, then `{"error": fail_message}`), "slow" (`delay` before each line) or
"cut" (some progress, then the connection drops, as when Ollama restarts mid-pull).
The HTTP plumbing (request log in `requests`, abandoned responses in `disconnects`, cut connections) is
`tests.fakes.http_fake.FakeHttpServer`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pytest_asyncio

from tests.fakes.http_fake import FakeHttpServer, RecordedRequest, Reply

VERSION = "0.12.6"
NDJSON = "application/x-ndjson"
ChatMode = Literal["slow", "fail_status", "cut", "error_midstream", "no_done"]
PullMode = Literal["fail", "slow", "cut"]


def full_name(name: str) -> str:
    """Ollama's default tag: "llama3.2" is "llama3.2:latest"."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def layer_digest(model: str, index: int) -> str:
    return "sha256:" + hashlib.sha256(f"{model}/{index}".encode()).hexdigest()


def _line(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


@dataclass
class ChatScript:
    """What the model "says": `text` streamed word by word, then `tool_calls`, then the counters."""

    text: str = "Hello from the fake Ollama."
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name": …, "arguments": {…}}]
    prompt_eval_count: int = 11
    eval_count: int = 7
    done_reason: str = "stop"

    def pieces(self) -> list[str]:
        words = self.text.split(" ") if self.text else []
        return [word if i == 0 else " " + word for i, word in enumerate(words)]


@dataclass
class _Local:
    size: int
    digest: str
    modified_at: str


class OllamaServer(FakeHttpServer):
    """Start with `start()` (or the `ollama_server` fixture); point clients at `base_url`."""

    def __init__(
        self,
        *,
        library: Mapping[str, tuple[int, ...]] | None = None,
        installed: tuple[str, ...] = ("llama3.2",),
    ) -> None:
        super().__init__()
        # What can be pulled: model name -> layer sizes in bytes.
        default_library = {"llama3.2": (2_000_000, 12_000, 96), "qwen2.5:0.5b": (400_000, 1_500)}
        self.library = {full_name(name): sizes for name, sizes in (library or default_library).items()}
        self.installed: dict[str, _Local] = {}
        for name in installed:
            self._install(full_name(name))
        self.chat = ChatScript()
        self.chat_mode: ChatMode | None = None
        self.pull_mode: PullMode | None = None
        self.pull_steps = 4  # progress lines per layer
        self.delay = 0.0
        self.fail_status = 500
        self.fail_message = "llama runner process has terminated: exit status 2"

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def _install(self, name: str) -> None:
        sizes = self.library.get(name, (1_000,))
        digest = hashlib.sha256(name.encode()).hexdigest()
        self.installed[name] = _Local(sum(sizes), digest, datetime.now(UTC).isoformat())

    async def handle(self, request: RecordedRequest, reply: Reply) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        route = (request.method, request.path)
        if route == ("POST", "/api/chat"):
            await self._chat(body, reply)
        elif route == ("POST", "/api/pull"):
            await self._pull(body, reply)
        elif route == ("DELETE", "/api/delete"):
            name = full_name(str(body.get("model") or body.get("name") or ""))
            if self.installed.pop(name, None) is None:
                await reply.json(404, {"error": f"model '{body.get('model')}' not found"})
            else:
                await reply.json(200, None)
        elif route == ("GET", "/api/tags"):
            await reply.json(
                200, {"models": [self._tag(name, local) for name, local in self.installed.items()]}
            )
        elif route == ("GET", "/api/version"):
            await reply.json(200, {"version": VERSION})
        else:
            await reply.json(404, {"error": "404 page not found"})

    @staticmethod
    def _tag(name: str, local: _Local) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": local.modified_at,
            "size": local.size,
            "digest": local.digest,
            "details": {"format": "gguf", "family": "llama", "families": None, "parameter_size": "1B"},
        }

    async def _chat(self, body: dict[str, Any], reply: Reply) -> None:
        model = str(body.get("model") or "")
        if not model:
            await reply.json(400, {"error": "model is required"})
            return
        if full_name(model) not in self.installed:
            await reply.json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        if self.chat_mode == "fail_status":
            await reply.json(self.fail_status, {"error": self.fail_message})
            return
        script = self.chat
        head = {"model": model, "created_at": datetime.now(UTC).isoformat()}
        final: dict[str, Any] = {
            **head,
            "done": True,
            "done_reason": script.done_reason,
            "total_duration": 1_000_000,
            "load_duration": 10_000,
            "prompt_eval_count": script.prompt_eval_count,
            "prompt_eval_duration": 200_000,
            "eval_count": script.eval_count,
            "eval_duration": 700_000,
        }
        calls = [{"function": {"name": c["name"], "arguments": c["arguments"]}} for c in script.tool_calls]
        if body.get("stream") is False:
            message: dict[str, Any] = {"role": "assistant", "content": script.text}
            if calls:
                message["tool_calls"] = calls
            await reply.json(200, {**final, "message": message})
            return
        lines = [
            {**head, "message": {"role": "assistant", "content": piece}, "done": False}
            for piece in script.pieces()
        ]
        if calls:
            lines.append(
                {**head, "message": {"role": "assistant", "content": "", "tool_calls": calls}, "done": False}
            )
        lines.append({**final, "message": {"role": "assistant", "content": ""}})
        if self.chat_mode == "no_done":
            lines.pop()
        if self.chat_mode in ("cut", "error_midstream"):
            lines = lines[:2]
            if self.chat_mode == "error_midstream":
                lines.append({"error": self.fail_message})
        await reply.stream(
            map(_line, lines),
            content_type=NDJSON,
            delay=self.delay if self.chat_mode == "slow" else 0.0,
            cut=self.chat_mode == "cut",
        )

    async def _pull(self, body: dict[str, Any], reply: Reply) -> None:
        name = full_name(str(body.get("model") or body.get("name") or ""))
        lines: list[dict[str, Any]] = [{"status": "pulling manifest"}]
        sizes = self.library.get(name)
        if sizes is None:
            lines.append({"error": "pull model manifest: file does not exist"})
        else:
            lines += self._progress(name, sizes)
            if self.pull_mode in ("fail", "cut"):
                lines = lines[: 1 + 2 * len(sizes)]  # the first two rounds of layer progress
            if self.pull_mode == "fail":
                lines.append({"error": self.fail_message})
            elif self.pull_mode != "cut":
                lines += [{"status": s} for s in ("verifying sha256 digest", "writing manifest", "success")]
        succeeded = lines[-1] == {"status": "success"}
        if body.get("stream") is False:
            await reply.json(200 if succeeded else 500, lines[-1])
        else:
            delay = self.delay if self.pull_mode == "slow" else 0.0
            await reply.stream(
                map(_line, lines), content_type=NDJSON, delay=delay, cut=self.pull_mode == "cut"
            )
        if succeeded:
            self._install(name)

    def _progress(self, model: str, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
        """Per-layer progress, interleaved round-robin as Ollama's parallel part downloads report it."""
        lines: list[dict[str, Any]] = []
        for step in range(self.pull_steps + 1):
            for index, size in enumerate(sizes):
                digest = layer_digest(model, index)
                line: dict[str, Any] = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": size}
                if done := size * step // self.pull_steps:
                    line["completed"] = done
                lines.append(line)
        return lines


@pytest_asyncio.fixture
async def ollama_server() -> AsyncIterator[OllamaServer]:
    """A started fake Ollama with "llama3.2" installed and "llama3.2", "qwen2.5:0.5b" pullable."""
    server = OllamaServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
