"""Measure the chat path: 200-token turns streamed straight from the fake OpenAI server ("direct"), and
through GEKO's `chat` GraphQL subscription on `geko up` ("geko": every check, the reservation and the commit
included).

For each pace (the fake's time between streamed events; 0 = full speed) the fake runs as a process of its own
(`python -m tests.fakes.openai_server`), then a fresh `geko up` pointed at it (a registered user on paygo).
For each concurrency c, c clients each hold one connection and run turns back to back (paced runs start them
at random offsets, or they would stay in lockstep). Once every client has run its warm-up turns, a window of
`--duration` seconds opens: tokens/s = tokens received within it / its length; TTFT (request sent → first
non-empty text) percentiles cover the turns started within it. A turn is an error unless it ends normally
(`[DONE]`; ChatCompleted) with exactly 200 tokens. GEKO's RSS is the sum of VmRSS of `geko up` and all its
descendants, sampled from /proc, peak over the run; CPU figures are CPU time within the window over its length
(100% = one core) for this process, the fake and GEKO: a load generator or fake near 100% would be the limit.

This process is the load generator: asyncio, a hand-written HTTP/SSE client for direct, `websockets` speaking
graphql-transport-ws for GEKO. Timings depend on the machine, and on whatever else runs on it: not a test.

Run with the project venv:  .venv/bin/python scripts/bench_chat_stream.py [--concurrency 1 32 128]
    [--pace-ms 0 10] [--duration 10] [--warmup 1] [--only direct|geko] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.fernet import Fernet
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.processes import (
    GEKO,
    GekoProcess,
    free_port,
    geko_env,
    graphql,
    health_ok,
    start_geko,
    wait_until,
)
from tests.fakes.openai_server import API_KEY, TOKEN

TOKENS = 200
MODEL = "gpt-4o-mini"
MAX_TOKENS = 256
PASSWORD = "bench-Passw0rd-1"
REGISTER = "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }"
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"
WORKSPACES = "query { workspaces { id } }"
CHAT = """subscription($input: ChatInput!) {
  chat(input: $input) {
    __typename
    ... on ChatStarted { turnId seq }
    ... on ChatDelta { seq text }
    ... on ChatCompleted { seq usage { outputTokens } }
    ... on ChatFailed { code message }
  }
}"""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TURN_TIMEOUT = 60.0
RSS_PERIOD = 0.2
ERROR_PAUSE = 0.1
LOG_LINES = 15


@dataclass
class Turn:
    ttft: float | None  # seconds from request sent to the first non-empty text; None if none came
    tokens: int
    error: str | None
    measured: bool = False  # started while the window was open: its timings count
    # GEKO only, to show where the added time goes: subscribe sent → ChatStarted (checks and reservation),
    # and last text → ChatCompleted (settlement: commit and the stored messages).
    started: float | None = None
    settle: float | None = None
    deltas: float | None = None  # ChatDelta events: 200 means no coalescing at all


class Window:
    """The measured span: tokens count while it is open, wherever their turn started. Clients keep running
    turns across its edges, so none waits at a barrier and the load stays the same throughout."""

    def __init__(self) -> None:
        self.is_open = False
        self.closed = False
        self.tokens = 0

    def add(self, tokens: int) -> None:
        if self.is_open:
            self.tokens += tokens


@dataclass
class Run:
    """One measurement: one path (direct or geko) at one pace and concurrency."""

    path: str
    pace_ms: float
    concurrency: int
    seconds: float = 0.0  # the window
    tokens: int = 0  # received in the window
    turns: list[Turn] = field(default_factory=list)  # all, warm-up and tail included
    client_cpu: float = 0.0  # CPU time over the window / its length, 1.0 = one core: this process
    fake_cpu: float = 0.0  # the fake OpenAI server
    geko_cpu: float | None = None  # all GEKO processes (geko runs only)
    geko_processes: dict[str, float] = field(default_factory=dict)  # each of them, by command line [pid]
    geko_waiting: float | None = None  # GEKO's threads waiting for a core, summed (1.0: one thread always)
    peak_rss: int | None = None  # bytes, all GEKO processes (geko runs only), warm-up included

    @property
    def errors(self) -> list[str]:
        return [turn.error for turn in self.turns if turn.error]

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def ttft(self, fraction: float) -> float | None:
        return self.percentile(lambda turn: turn.ttft, fraction)

    def percentile(self, timing: Callable[[Turn], float | None], fraction: float) -> float | None:
        """The `fraction` percentile of a timing over the measured turns (None: no sample)."""
        samples = sorted(
            value for turn in self.turns if turn.measured and (value := timing(turn)) is not None
        )
        if not samples:
            return None
        return samples[min(len(samples) - 1, round(fraction * (len(samples) - 1)))]

    def summary(self) -> dict[str, Any]:
        errors = self.errors
        return {
            "path": self.path,
            "pace_ms": self.pace_ms,
            "concurrency": self.concurrency,
            "measured_turns": sum(turn.measured for turn in self.turns),
            "seconds": round(self.seconds, 3),
            "ttft_p50_ms": _rounded_ms(self.ttft(0.5)),
            "ttft_p99_ms": _rounded_ms(self.ttft(0.99)),
            "chat_started_p50_ms": _rounded_ms(self.percentile(lambda turn: turn.started, 0.5)),
            "settle_p50_ms": _rounded_ms(self.percentile(lambda turn: turn.settle, 0.5)),
            "deltas_per_turn_p50": self.percentile(lambda turn: turn.deltas, 0.5),
            "tokens_per_second": round(self.tokens_per_second),
            "errors": len(errors),
            "first_errors": sorted(set(errors))[:5],
            "client_cpu_percent": round(self.client_cpu * 100),
            "fake_cpu_percent": round(self.fake_cpu * 100),
            "geko_cpu_percent": None if self.geko_cpu is None else round(self.geko_cpu * 100),
            "geko_cpu_percent_by_process": {k: round(v * 100) for k, v in self.geko_processes.items()},
            "geko_runqueue_wait_percent": None
            if self.geko_waiting is None
            else round(self.geko_waiting * 100),
            "peak_rss_mib": None if self.peak_rss is None else round(self.peak_rss / 2**20, 1),
        }


def _rounded_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class ChatClient(Protocol):
    async def turn(self) -> Turn: ...

    async def aclose(self) -> None: ...


# --- direct: the fake's SSE over one HTTP connection per client ---------------------------------------------

CONTENT = b'"content":"'
TOKEN_BYTES = TOKEN.encode()


class DirectClient:
    """Streams chat completions from the fake over one kept-alive HTTP/1.1 connection, written and read by
    hand (request bytes built once; chunked body and SSE parsed without JSON). httpx, tried first, spent
    ~25 µs of this process's CPU per token (86% of a core at 35k tokens/s): the load generator would have
    been the limit."""

    def __init__(self, api_base: str, window: Window) -> None:
        url = httpx.URL(api_base)
        self._address = (url.host, url.port or 80)
        self._window = window
        body = json.dumps(
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": MAX_TOKENS,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ).encode()
        head = (
            f"POST {url.path.rstrip('/')}/chat/completions HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._request = head.encode() + body
        self._connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def turn(self) -> Turn:
        """One request; a turn that does not end cleanly closes the connection (its state is unknown), and
        the next turn opens a new one."""
        started = time.perf_counter()
        try:
            if self._connection is None:
                self._connection = await asyncio.open_connection(*self._address)
            reader, writer = self._connection
            writer.write(self._request)
            async with asyncio.timeout(TURN_TIMEOUT):
                turn = await self._read(reader, started)
        except BaseException:
            await self.aclose()
            raise
        if turn.error:
            await self.aclose()
        return turn

    async def _read(self, reader: asyncio.StreamReader, started: float) -> Turn:
        ttft: float | None = None
        tokens = 0
        done = False
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return Turn(None, 0, head.split(b"\r\n", 1)[0].decode())
        pending = b""
        while size := int((await reader.readline()).strip(), 16):
            pending += (await reader.readexactly(size + 2))[:-2]
            *events, pending = pending.split(b"\n\n")
            for event in events:
                data = event.removeprefix(b"data: ")
                if data == b"[DONE]":
                    done = True
                elif data.startswith(b'{"error"'):
                    return Turn(ttft, tokens, "error event")
                elif (at := data.find(CONTENT)) >= 0:
                    start = at + len(CONTENT)
                    count = data.count(TOKEN_BYTES, start, data.index(b'"', start))
                    if count:
                        if ttft is None:
                            ttft = time.perf_counter() - started
                        tokens += count
                        self._window.add(count)
        await reader.readuntil(b"\r\n")  # the empty trailer after the last chunk
        return Turn(ttft, tokens, _turn_error(done, tokens, "no [DONE]"))

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection[1].close()
            self._connection = None


def _turn_error(ended: bool, tokens: int, missing_end: str) -> str | None:
    if not ended:
        return missing_end
    return None if tokens == TOKENS else f"{tokens} tokens"


# --- geko: the chat subscription over graphql-transport-ws ------------------------------------------------


class GekoClient:
    """One graphql-transport-ws connection; each turn is one `chat` subscription, run to its `complete`. A
    turn that raised (timeout, connection lost) closes the connection; the next turn opens a new one."""

    def __init__(self, ws_url: str, token: str, workspace_id: str, window: Window) -> None:
        self._url = ws_url
        self._init = json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        self._variables = {
            "input": {"workspaceId": workspace_id, "model": MODEL, "message": "hi", "maxTokens": MAX_TOKENS}
        }
        self._window = window
        self._socket: ClientConnection | None = None
        self._next_id = 0

    async def connect(self) -> ClientConnection:
        socket = await connect(self._url, subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None)
        await socket.send(self._init)
        ack = json.loads(await socket.recv())
        if ack.get("type") != "connection_ack":
            await socket.close()
            raise RuntimeError(f"no connection_ack: {ack}")
        return socket

    async def turn(self) -> Turn:
        started = time.perf_counter()
        try:
            if self._socket is None:
                self._socket = await self.connect()
            async with asyncio.timeout(TURN_TIMEOUT):
                return await self._subscribe(self._socket, started)
        except BaseException:
            await self.aclose()
            raise

    async def _subscribe(self, socket: ClientConnection, started: float) -> Turn:
        self._next_id += 1
        op = str(self._next_id)
        await socket.send(
            json.dumps(
                {"id": op, "type": "subscribe", "payload": {"query": CHAT, "variables": self._variables}}
            )
        )
        ttft: float | None = None
        chat_started: float | None = None
        last_text = 0.0
        settle: float | None = None
        deltas = 0
        tokens = 0
        completed = False
        failure: str | None = None
        while True:
            message = json.loads(await socket.recv())
            kind = message.get("type")
            if kind == "ping":
                await socket.send(json.dumps({"type": "pong"}))
                continue
            if message.get("id") != op:
                continue
            if kind == "complete":
                break
            if kind == "error":
                failure = f"error: {message.get('payload')}"
                break
            payload = message.get("payload") or {}
            if payload.get("errors"):
                failure = f"errors: {payload['errors'][0].get('message')}"
            event = (payload.get("data") or {}).get("chat") or {}
            typename = event.get("__typename")
            if typename == "ChatDelta" and (count := (event.get("text") or "").count(TOKEN)):
                last_text = time.perf_counter()
                deltas += 1
                if ttft is None:
                    ttft = last_text - started
                tokens += count
                self._window.add(count)
            elif typename == "ChatStarted":
                chat_started = time.perf_counter() - started
            elif typename == "ChatCompleted":
                completed = True
                settle = time.perf_counter() - last_text if last_text else None
            elif typename == "ChatFailed":
                failure = f"ChatFailed {event.get('code')}: {event.get('message')}"
        error = failure or _turn_error(completed, tokens, "no ChatCompleted")
        return Turn(ttft, tokens, error, started=chat_started, settle=settle, deltas=deltas)

    async def aclose(self) -> None:
        if self._socket is not None:
            await self._socket.close()
            self._socket = None


# --- one measurement --------------------------------------------------------------------------------------


@dataclass
class CpuTimes:
    """Seconds so far: CPU of this process, of the fake and of each GEKO process (by a readable label), and
    the time GEKO's threads were ready to run but waited for a core (other work on the machine)."""

    client: float
    fake: float
    geko: dict[str, float]
    geko_waiting: float


@dataclass
class Subjects:
    """The processes a run watches: the fake always, GEKO's process tree on geko runs."""

    fake_pid: int
    geko_pid: int | None = None

    def cpu(self) -> CpuTimes:
        tree = process_tree(self.geko_pid) if self.geko_pid is not None else []
        return CpuTimes(
            _own_cpu(),
            cpu_seconds([self.fake_pid]),
            {f"{command_line(pid)} [{pid}]": cpu_seconds([pid]) for pid in tree},
            runqueue_wait_seconds(tree),
        )

    def rss(self) -> int:
        return rss_bytes(process_tree(self.geko_pid)) if self.geko_pid is not None else 0


async def measure(
    run: Run,
    make_client: Callable[[Window], ChatClient],
    subjects: Subjects,
    *,
    warmup: int,
    duration: float,
    stagger: float,
) -> None:
    """`run.concurrency` clients, each starting after a random delay up to `stagger` (paced turns would
    otherwise stay in lockstep) and running turns back to back. The window opens once every client has run
    `warmup` turns, and closes `duration` seconds later; the turns then running finish outside it."""
    window = Window()
    warm = 0
    all_warm = asyncio.Event()

    def mark_warm() -> None:
        nonlocal warm
        warm += 1
        if warm == run.concurrency:
            all_warm.set()

    async def worker() -> None:
        await asyncio.sleep(random.uniform(0, stagger))
        client = make_client(window)
        done = 0
        try:
            while not window.closed:
                turn = await _guarded(client.turn(), measured=window.is_open)
                run.turns.append(turn)
                done += 1
                if done == warmup:
                    mark_warm()
                if turn.error:
                    await asyncio.sleep(ERROR_PAUSE)  # no hot loop against a broken server
        finally:
            if done < warmup:
                mark_warm()
            with contextlib.suppress(Exception):
                await client.aclose()

    async def sample_rss() -> None:
        while True:
            run.peak_rss = max(run.peak_rss or 0, subjects.rss())
            await asyncio.sleep(RSS_PERIOD)

    sampler = asyncio.create_task(sample_rss()) if subjects.geko_pid is not None else None
    workers = [asyncio.create_task(worker()) for _ in range(run.concurrency)]
    await all_warm.wait()
    before, opened = subjects.cpu(), time.perf_counter()
    window.is_open = True
    await asyncio.sleep(duration)
    window.is_open, window.closed = False, True
    after, run.seconds = subjects.cpu(), time.perf_counter() - opened
    run.tokens = window.tokens
    run.client_cpu = (after.client - before.client) / run.seconds
    run.fake_cpu = (after.fake - before.fake) / run.seconds
    if sampler is not None:
        sampler.cancel()
        run.geko_processes = {
            label: (seconds - before.geko.get(label, 0.0)) / run.seconds
            for label, seconds in after.geko.items()
        }
        run.geko_cpu = sum(run.geko_processes.values())
        run.geko_waiting = (after.geko_waiting - before.geko_waiting) / run.seconds
    await asyncio.gather(*workers)


async def _guarded(turn: Awaitable[Turn], *, measured: bool) -> Turn:
    """A turn that raised (connection lost, timeout) is an error, not the end of the benchmark."""
    try:
        result = await turn
    except Exception as error:
        result = Turn(None, 0, f"{type(error).__name__}: {error}"[:200])
    result.measured = measured
    return result


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


# --- processes: the fake, geko, and what /proc says about them ----------------------------------------------


@contextlib.contextmanager
def fake_openai(pace_ms: float) -> Iterator[tuple[str, int]]:
    """The fake OpenAI server in its own process; yields its base URL (…/v1) and pid."""
    command = [
        sys.executable,
        "-m",
        "tests.fakes.openai_server",
        "--tokens",
        str(TOKENS),
        "--pace-ms",
        str(pace_ms),
    ]
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)  # noqa: S603 (ours)
    try:
        assert process.stdout is not None
        api_base = process.stdout.readline().strip()
        if not api_base.startswith("http"):
            raise RuntimeError(f"the fake OpenAI server did not start (exit {process.poll()})")
        yield api_base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now, from /proc/<pid>/task/*/children."""
    pids, pending = [], [root]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending += [int(child) for child in children.read_text().split()]
    return pids


def command_line(pid: int) -> str:
    """`geko up`, `geko serve chat`, …: the arguments from the program named geko on ("?" once it is gone)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    names = [Path(arg).name for arg in args if arg]
    start = names.index("geko") if "geko" in names else 0
    return " ".join(names[start:])


def runqueue_wait_seconds(pids: list[int]) -> float:
    """Time the threads of `pids` spent runnable but not running (/proc/<pid>/task/*/schedstat, 2nd field)."""
    total = 0
    for pid in pids:
        for schedstat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int(schedstat.read_text().split()[1])
    return total / 1e9


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of `pids` (a process gone since is simply not counted)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@dataclass
class Geko:
    process: GekoProcess
    base_url: str
    seats: list[tuple[str, str]]  # (access token, workspace id): one per tenant, clients take turns

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/graphql"


@contextlib.contextmanager
def geko_up(api_base: str, settings: dict[str, str], tenants: int) -> Iterator[Geko]:
    """A `geko up` whose platform OpenAI account is the fake, with `tenants` users (each the owner of a tenant
    of its own) on paygo; `settings` (names without GEKO_) override ours, e.g. a database_url to measure
    PostgreSQL instead of SQLite."""
    with tempfile.TemporaryDirectory(prefix="geko-bench-chat-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        ours = {
            "data_dir": str(workdir / "data"),
            "port": str(port),
            "secret_key": Fernet.generate_key().decode(),
            "openai_base_url": api_base,
            "openai_api_key": API_KEY,
            "log_level": "WARNING",
            "login_rate_per_ip": "1000000",  # every registration comes from this one address
        }
        env = geko_env(**(ours | settings))
        process = start_geko(["up"], env=env, cwd=workdir)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until(health_ok(base_url), processes=[process], what="healthy")
            emails = [f"bench{number}@geko.example" for number in range(tenants)]
            with httpx.Client(base_url=base_url, timeout=30) as client:
                tokens = [sign_in(client, email) for email in emails]
                for email in emails:  # one at a time: each is a Python process, and the machine has 2 cores
                    set_plan = [str(GEKO), "admin", "set-plan", "--tenant", email, "--plan", "paygo"]
                    subprocess.run(set_plan, env=env, cwd=workdir, check=True, capture_output=True)  # noqa: S603
                seats = [(token, default_workspace(client, token)) for token in tokens]
            yield Geko(process, base_url, seats)
        finally:
            try:
                process.stop()
            except (
                AssertionError
            ) as error:  # killed after SIGTERM: say so, without hiding an error from above
                print(error, file=sys.stderr)
            # Its log goes with the temp dir: keep what explains failures (log level WARNING: little else).
            summary = log_summary(process.output())
            if summary:
                print("--- geko up log (count, level event: error):", *summary, sep="\n", file=sys.stderr)


def sign_in(client: httpx.Client, email: str) -> str:
    """Registers a user in a tenant of its own, or signs it in if the database (kept from a run before) has
    it already."""
    user = {"email": email, "password": PASSWORD, "name": "Bench", "tenantName": f"Bench {email}"}
    body = graphql(client, REGISTER, {"input": user})
    if body.get("errors"):
        body = graphql(client, LOGIN, {"input": {"email": email, "password": PASSWORD}})
        if body.get("errors"):
            raise RuntimeError(f"neither register nor login worked: {body['errors']}")
        return str(body["data"]["login"]["accessToken"])
    return str(body["data"]["register"]["accessToken"])


def default_workspace(client: httpx.Client, token: str) -> str:
    body = graphql(client, WORKSPACES, token=token)
    if body.get("errors") or not body["data"]["workspaces"]:
        raise RuntimeError(f"no workspace: {body}")
    return str(body["data"]["workspaces"][0]["id"])


def log_summary(output: str) -> list[str]:
    """Distinct (level, event, error) of geko's JSON log lines, most frequent first, and other lines as is."""
    counts: Counter[str] = Counter()
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            counts[line] += 1
            continue
        if isinstance(entry, dict):
            counts[f"{entry.get('level')} {entry.get('event')}: {entry.get('error', '')}"] += 1
    return [f"{count}  {text}" for text, count in counts.most_common(LOG_LINES)]


# --- the matrix and its report ------------------------------------------------------------------------------


def geko_clients(geko: Geko) -> Callable[[Window], ChatClient]:
    """Makes GEKO clients for the seats in turn: c clients over t tenants, c/t on each."""
    seats = itertools.cycle(geko.seats)

    def make_client(window: Window) -> ChatClient:
        return GekoClient(geko.ws_url, *next(seats), window)

    return make_client


def run_matrix(args: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []

    def run(
        path: str, pace_ms: float, make_client: Callable[[Window], ChatClient], subjects: Subjects
    ) -> None:
        stagger = pace_ms * TOKENS / 1000
        for concurrency in args.concurrency:
            result = Run(path, pace_ms, concurrency)
            measurement = measure(
                result, make_client, subjects, warmup=args.warmup, duration=args.duration, stagger=stagger
            )
            asyncio.run(measurement)
            print(json.dumps(result.summary()), file=sys.stderr, flush=True)
            runs.append(result)

    for pace_ms in args.pace_ms:
        with fake_openai(pace_ms) as (api_base, fake_pid):
            if args.only in (None, "direct"):
                run("direct", pace_ms, partial(DirectClient, api_base), Subjects(fake_pid))
            if args.only in (None, "geko"):
                with geko_up(api_base, args.geko_settings, args.tenants) as geko:
                    run("geko", pace_ms, geko_clients(geko), Subjects(fake_pid, geko.process.process.pid))
    return runs


def table(runs: list[Run]) -> str:
    """One markdown row per (pace, c): both paths side by side, and what GEKO adds ("-": not measured)."""
    header = (
        "| pace | c | direct TTFT p50/p99 ms | GEKO TTFT p50/p99 ms | added p50/p99 ms | direct tok/s "
        "| GEKO tok/s | ratio | errors direct/GEKO | GEKO peak RSS MiB "
        "| direct CPU % client/fake | GEKO CPU % client/fake/GEKO |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    by_key = {(run.path, run.pace_ms, run.concurrency): run for run in runs}
    for pace_ms, concurrency in sorted({(run.pace_ms, run.concurrency) for run in runs}):
        direct = by_key.get(("direct", pace_ms, concurrency))
        geko = by_key.get(("geko", pace_ms, concurrency))
        d_p50, d_p99 = (direct.ttft(0.5), direct.ttft(0.99)) if direct else (None, None)
        g_p50, g_p99 = (geko.ttft(0.5), geko.ttft(0.99)) if geko else (None, None)
        d_rate = direct.tokens_per_second if direct else None
        g_rate = geko.tokens_per_second if geko else None
        cells = [
            "full speed" if pace_ms == 0 else f"{pace_ms:g} ms/token",
            str(concurrency),
            f"{_ms(d_p50)} / {_ms(d_p99)}",
            f"{_ms(g_p50)} / {_ms(g_p99)}",
            f"{_ms(_minus(g_p50, d_p50))} / {_ms(_minus(g_p99, d_p99))}",
            _number(d_rate),
            _number(g_rate),
            f"{g_rate / d_rate:.0%}" if g_rate is not None and d_rate else "-",
            f"{_count(direct)}/{_count(geko)}",
            _number(geko.peak_rss / 2**20 if geko and geko.peak_rss is not None else None),
            "/".join(_percent(x) for x in (direct.client_cpu, direct.fake_cpu)) if direct else "-",
            "/".join(_percent(x) for x in (geko.client_cpu, geko.fake_cpu, geko.geko_cpu)) if geko else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(runs: list[Run]) -> list[str]:
    """The issue's targets, each with what was measured: "ok" or "MISSED" (nothing when not measured)."""
    by_key = {(run.path, run.pace_ms, run.concurrency): run for run in runs}
    lines: list[str] = []

    def check(name: str, measured: str, met: bool) -> None:
        lines.append(f"{'ok    ' if met else 'MISSED'} {name}: {measured}")

    for pace_ms, concurrency in sorted({(run.pace_ms, run.concurrency) for run in runs}):
        direct = by_key.get(("direct", pace_ms, concurrency))
        geko = by_key.get(("geko", pace_ms, concurrency))
        where = f"pace {pace_ms:g} ms, c={concurrency}"
        limit = {1: 0.005, 32: 0.050}.get(concurrency)
        added = _minus(geko.ttft(0.5), direct.ttft(0.5)) if geko and direct else None
        if limit is not None and added is not None:
            check(f"added TTFT p50 ≤ {limit * 1000:g} ms ({where})", f"{_ms(added)} ms", added <= limit)
        if geko and concurrency == 128 and pace_ms == 0:
            rate = geko.tokens_per_second
            check(f"≥ 20,000 tokens/s ({where})", _number(rate), rate >= 20_000)
        if geko and direct and pace_ms > 0 and direct.tokens_per_second:
            ratio = geko.tokens_per_second / direct.tokens_per_second
            check(f"≥ 90% of direct tokens/s ({where})", f"{ratio:.0%}", ratio >= 0.9)
    geko_runs = [run for run in runs if run.path == "geko"]
    if geko_runs:
        errors = sum(len(run.errors) for run in geko_runs)
        check("0 errors (every GEKO run)", str(errors), errors == 0)
        peak = max(run.peak_rss or 0 for run in geko_runs) / 2**20
        check("RSS < 200 MiB (GEKO's peak)", f"{peak:.0f} MiB", peak < 200)
    return lines


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.0%}"


def _setting(text: str, parser: argparse.ArgumentParser) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        parser.error(f"--geko-setting {text!r}: expected NAME=VALUE")
    return name, value


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _count(run: Run | None) -> str:
    return "-" if run is None else str(len(run.errors))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 128], help="clients at once")
    parser.add_argument("--pace-ms", type=float, nargs="+", default=[0.0, 10.0], help="fake's wait per token")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured turns per client first")
    parser.add_argument("--only", choices=("direct", "geko"), help="measure one path only")
    parser.add_argument("--json", action="store_true", help="print the runs as JSON instead of a table")
    parser.add_argument(
        "--tenants",
        type=int,
        default=1,
        help="spread GEKO's clients over this many tenants (each quota row is a point of contention)",
    )
    parser.add_argument(
        "--geko-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for geko up, without GEKO_ (e.g. database_url=postgresql+psycopg://…); repeatable",
    )
    args = parser.parse_args()
    args.geko_settings = dict(_setting(text, parser) for text in args.geko_setting)

    load_before = _load()
    runs = run_matrix(args)
    # Other work on the machine takes cores from every side: say how busy it was.
    load = f"load average (1, 5, 15 min) before {load_before}, after {_load()}, {os.cpu_count()} CPUs"
    if args.json:
        print(json.dumps({"machine": load, "runs": [run.summary() for run in runs]}, indent=2))
    else:
        print(table(runs))
        print("", *targets(runs), f"\n{load}", sep="\n")
        for run in runs:
            if run.errors:
                print(f"{run.path} pace {run.pace_ms:g} c={run.concurrency}: {run.summary()['first_errors']}")


if __name__ == "__main__":
    main()
