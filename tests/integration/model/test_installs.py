"""Local model installs over real gRPC: auth + workspace on one server, the model service on servers of its
own (each one a "process"; a restart is a new server on the same database), the fake Ollama of tests/fakes,
SQLite and (marked integration) PostgreSQL with Redis pub/sub between the model servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from geko.model.v1 import model_pb2, model_pb2_grpc
from geko.workspace.v1 import workspace_pb2
from services.model import installs
from services.model import servicer as model_servicer
from services.model.installs import INTERRUPTED
from services.model.installs_repository import InstallsRepository
from services.providers.ollama import OllamaClient
from services.runtime.backends import Backends, create_backends
from services.runtime.clients import Channels
from services.runtime.database import Database
from services.runtime.ids import new_id
from services.runtime.secrets import SecretBox
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.tokens import jwks_verifier_from_channels
from tests.fakes.ollama_server import OllamaServer, ollama_server
from tests.integration.auth.harness import (
    SECRET_KEY,
    Platform,
    PlatformFactory,
    audit_events,
    database_url,
    db_session,
    rpc_error,
    start_platform,
)
from tests.integration.workspace.team import Person, Team, new_team

__all__ = ["database_url", "ollama_server", "start_platform"]

S = model_pb2
# The seed's local models, and the layers the fake Ollama serves for them (bytes).
LLAMA = "llama2"
MISTRAL = "mistral"
LAYERS = {LLAMA: (3_000_000, 40_000, 120), MISTRAL: (900_000, 2_000)}


@dataclass
class ModelServer:
    server: GrpcServer
    channel: grpc.aio.Channel
    stub: model_pb2_grpc.ModelServiceStub
    servicer: model_servicer.ModelServicer
    deps: ServiceDeps
    alive: bool = True

    async def kill(self) -> None:
        """The process dies: its pulls stop where they are, its streams break, nothing is settled."""
        self.alive = False
        await self.servicer.installs.aclose()
        await self.channel.close()
        await self.server.stop(0)
        await self.deps.channels.close()
        await self.deps.database.dispose()


@dataclass
class Env:
    platform: Platform
    ollama: OllamaServer
    team: Team
    start_model: Callable[[], Awaitable[ModelServer]]
    model: ModelServer

    def md(self, person: Person | None = None) -> tuple[tuple[str, str], ...]:
        return self.platform.metadata((person or self.team.owner).token)

    async def install(
        self, model_id: str = LLAMA, *, by: Person | None = None, server: ModelServer | None = None
    ) -> list[S.InstallProgress]:
        stream = (server or self.model).stub.InstallModel(
            S.InstallModelRequest(model_id=model_id, workspace_id=self.team.workspace_id),
            metadata=self.md(by),
        )
        return [answer.progress async for answer in stream]

    async def installed(self, tenant_id: str | None = None) -> set[str]:
        async with db_session(self.platform) as session:
            return await InstallsRepository(session).installed_model_ids(
                tenant_id or self.team.owner.tenant_id
            )

    async def eligibility(self, model_id: str) -> S.EligibleModel:
        """The owner's eligibility entry for `model_id` in the team's workspace."""
        answer = await self.model.stub.ListEligibleModels(
            S.ListEligibleModelsRequest(workspace_id=self.team.workspace_id), metadata=self.md()
        )
        return next(entry for entry in answer.models if entry.model.id == model_id)

    async def actions(self) -> list[str]:
        events = await audit_events(self.platform, tenant_id=self.team.owner.tenant_id, service="model")
        return [event["action"] for event in events]


@pytest_asyncio.fixture
async def env(
    start_platform: PlatformFactory, ollama_server: OllamaServer, database_url: str, redis_url: str
) -> AsyncIterator[Env]:
    platform = await start_platform()
    for name, sizes in LAYERS.items():
        ollama_server.library[f"{name}:latest"] = sizes
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    # Shared like Redis between processes: a watcher on one server sees a pull running on another.
    backends: Backends = create_backends(
        redis_url if use_redis else None, key_prefix=f"geko-test:{new_id()}:"
    )
    started: list[ModelServer] = []

    async def start_model() -> ModelServer:
        settings = platform.settings.model_copy(update={"ollama_url": ollama_server.base_url})
        channels = Channels(settings)
        deps = ServiceDeps(
            settings=settings,
            database=Database(database_url),
            backends=backends,
            channels=channels,
            secret_box=SecretBox(SECRET_KEY.encode()),
        )
        registration = model_servicer.create(deps)
        server = GrpcServer(
            [registration],
            token_verifier=jwks_verifier_from_channels(channels, settings, service_key=SECRET_KEY.encode()),
            settings=settings,
        )
        port = await server.start("127.0.0.1:0")
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        assert isinstance(registration.servicer, model_servicer.ModelServicer)
        started.append(
            ModelServer(
                server, channel, model_pb2_grpc.ModelServiceStub(channel), registration.servicer, deps
            )
        )
        return started[-1]

    model = await start_model()
    yield Env(platform, ollama_server, await new_team(platform), start_model, model)
    for running in started:
        if running.alive:
            await running.kill()
    await backends.aclose()


def _percents(events: list[S.InstallProgress]) -> list[float]:
    return [event.percent for event in events]


async def test_install_streams_monotonic_progress_to_ready_and_the_model_is_installed(env: Env) -> None:
    assert LLAMA not in await env.installed()
    assert (await env.eligibility(LLAMA)).reason == S.ELIGIBILITY_REASON_NOT_INSTALLED

    events = await env.install()

    statuses = [event.status for event in events]
    assert statuses[0] in (S.INSTALL_STATUS_QUEUED, S.INSTALL_STATUS_DOWNLOADING)
    assert statuses[-1] == S.INSTALL_STATUS_READY
    assert S.INSTALL_STATUS_DOWNLOADING in statuses
    assert any(0 < event.percent < 100 for event in events)
    assert _percents(events) == sorted(_percents(events))
    assert statuses.index(S.INSTALL_STATUS_READY) == len(statuses) - 1  # nothing after the terminal state
    last = events[-1]
    assert (last.percent, last.completed_bytes, last.total_bytes) == (
        100,
        sum(LAYERS[LLAMA]),
        sum(LAYERS[LLAMA]),
    )
    assert len({event.job_id for event in events}) == 1
    job = (
        await env.model.stub.GetInstallJob(S.GetInstallJobRequest(job_id=last.job_id), metadata=env.md())
    ).job
    assert (job.model_id, job.tenant_id, job.created_by) == (
        LLAMA,
        env.team.owner.tenant_id,
        env.team.owner.user_id,
    )
    assert job.progress.status == S.INSTALL_STATUS_READY
    assert LLAMA in await env.installed()
    assert "llama2:latest" in env.ollama.installed
    eligible = await env.eligibility(LLAMA)
    assert (eligible.usable, eligible.model.installed) == (True, True)
    assert await env.actions() == ["MODEL_INSTALL_STARTED", "MODEL_INSTALLED"]


async def test_progress_is_written_by_the_percent_not_by_the_line(env: Env) -> None:
    env.ollama.pull_steps = 400  # 401 lines per layer: 1 203 progress lines for llama2

    events = await env.install()

    assert events[-1].status == S.INSTALL_STATUS_READY
    assert _percents(events) == sorted(_percents(events))
    # A write per whole percent (at most 100), per status change, and per quarter second of a pull that
    # takes a few seconds at most: far fewer than the lines Ollama sent.
    assert len(events) < 1203 // 4


async def test_the_job_goes_on_when_the_caller_disconnects(env: Env) -> None:
    env.ollama.pull_mode = "slow"
    env.ollama.delay = 0.05
    stream = env.model.stub.InstallModel(
        S.InstallModelRequest(model_id=LLAMA, workspace_id=env.team.workspace_id), metadata=env.md()
    )
    opening = await stream.read()
    assert isinstance(opening, S.InstallModelResponse)
    stream.cancel()

    watched = [
        answer.progress
        async for answer in env.model.stub.WatchInstallJob(
            S.WatchInstallJobRequest(job_id=opening.progress.job_id), metadata=env.md()
        )
    ]

    assert watched[-1].status == S.INSTALL_STATUS_READY
    assert LLAMA in await env.installed()


async def test_a_failing_pull_ends_in_error_with_the_reason(env: Env) -> None:
    env.ollama.pull_mode = "fail"

    events = await env.install()

    assert events[-1].status == S.INSTALL_STATUS_ERROR
    assert env.ollama.fail_message in events[-1].error
    assert _percents(events) == sorted(_percents(events))
    job = (
        await env.model.stub.GetInstallJob(
            S.GetInstallJobRequest(job_id=events[-1].job_id), metadata=env.md()
        )
    ).job
    assert job.progress.status == S.INSTALL_STATUS_ERROR
    assert env.ollama.fail_message in job.progress.error
    assert LLAMA not in await env.installed()
    assert await env.actions() == ["MODEL_INSTALL_STARTED", "MODEL_INSTALL_FAILED"]


async def test_watchers_and_a_second_install_join_the_running_job(env: Env) -> None:
    env.ollama.pull_mode = "slow"
    env.ollama.delay = 0.1
    other_process = await env.start_model()
    first = env.model.stub.InstallModel(
        S.InstallModelRequest(model_id=LLAMA, workspace_id=env.team.workspace_id), metadata=env.md()
    )
    opening = await first.read()
    assert isinstance(opening, S.InstallModelResponse)
    job_id = opening.progress.job_id

    async def watch() -> list[S.InstallProgress]:
        stream = other_process.stub.WatchInstallJob(
            S.WatchInstallJobRequest(job_id=job_id), metadata=env.md()
        )
        return [answer.progress async for answer in stream]

    async def rest_of_first() -> list[S.InstallProgress]:
        rest = []
        while (answer := await first.read()) is not grpc.aio.EOF:
            assert isinstance(answer, S.InstallModelResponse)
            rest.append(answer.progress)
        return rest

    watched, joined, rest = await asyncio.gather(watch(), env.install(server=other_process), rest_of_first())

    assert watched[-1].status == rest[-1].status == S.INSTALL_STATUS_READY
    assert _percents(watched) == sorted(_percents(watched))
    assert {event.job_id for event in [*watched, *joined, *rest]} == {job_id}
    assert joined[-1].status == S.INSTALL_STATUS_READY
    assert len(env.ollama.requests_to("/api/pull")) == 1
    assert await env.actions() == ["MODEL_INSTALL_STARTED", "MODEL_INSTALLED"]


async def test_a_restart_mid_pull_leaves_a_truthful_status_and_a_new_install_works(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installs, "LEASE_SECONDS", 0.6)  # the dead process's lease lapses soon
    env.ollama.pull_mode = "slow"
    env.ollama.delay = 0.2
    stream = env.model.stub.InstallModel(
        S.InstallModelRequest(model_id=LLAMA, workspace_id=env.team.workspace_id), metadata=env.md()
    )
    job_id = ""
    async for answer in stream:
        job_id = answer.progress.job_id
        if answer.progress.status == S.INSTALL_STATUS_DOWNLOADING:
            break
    survivor = await env.start_model()  # another process, whose watcher outlives the one pulling
    watch = survivor.stub.WatchInstallJob(S.WatchInstallJobRequest(job_id=job_id), metadata=env.md())
    current = await watch.read()
    assert isinstance(current, S.WatchInstallJobResponse)
    assert current.progress.status == S.INSTALL_STATUS_DOWNLOADING
    await env.model.kill()

    restarted = await env.start_model()
    watched = []
    while (answer := await watch.read()) is not grpc.aio.EOF:
        assert isinstance(answer, S.WatchInstallJobResponse)
        watched.append(answer.progress)
    job = (await restarted.stub.GetInstallJob(S.GetInstallJobRequest(job_id=job_id), metadata=env.md())).job

    assert (watched[-1].status, watched[-1].error) == (S.INSTALL_STATUS_ERROR, INTERRUPTED)
    assert job.progress.status == S.INSTALL_STATUS_ERROR
    assert job.progress.error == INTERRUPTED
    assert LLAMA not in await env.installed()
    assert [event.percent for event in [current.progress, *watched]] == sorted(
        event.percent for event in [current.progress, *watched]
    )
    env.ollama.pull_mode = None
    again = await env.install(server=restarted)
    assert again[-1].status == S.INSTALL_STATUS_READY
    assert again[-1].job_id != job_id
    assert await env.actions() == [
        "MODEL_INSTALL_STARTED",
        "MODEL_INSTALL_FAILED",
        "MODEL_INSTALL_STARTED",
        "MODEL_INSTALLED",
    ]


async def test_a_pull_that_got_there_before_its_process_died_is_ready_after_the_restart(env: Env) -> None:
    env.ollama.pull_mode = "slow"
    env.ollama.delay = 0.2
    stream = env.model.stub.InstallModel(
        S.InstallModelRequest(model_id=MISTRAL, workspace_id=env.team.workspace_id), metadata=env.md()
    )
    opening = await stream.read()
    assert isinstance(opening, S.InstallModelResponse)
    await env.model.kill()
    # The model reached Ollama all the same (another client pulled it to the end).
    env.ollama.pull_mode = None
    async with OllamaClient(env.ollama.base_url) as ollama:
        assert [line.status async for line in ollama.pull(MISTRAL)][-1] == "success"
    # Its lease lapsed (what LEASE_SECONDS of silence does).
    await env.model.deps.backends.cache.delete(installs.lease_key(opening.progress.job_id))

    restarted = await env.start_model()
    job = (
        await restarted.stub.GetInstallJob(
            S.GetInstallJobRequest(job_id=opening.progress.job_id), metadata=env.md()
        )
    ).job

    assert (job.progress.status, job.progress.percent) == (S.INSTALL_STATUS_READY, 100)
    assert MISTRAL in await env.installed()
    assert await env.actions() == ["MODEL_INSTALL_STARTED", "MODEL_INSTALLED"]


async def test_a_second_install_does_not_join_a_job_whose_process_died(env: Env) -> None:
    env.ollama.pull_mode = "slow"
    env.ollama.delay = 0.2
    other_process = await env.start_model()
    stream = env.model.stub.InstallModel(
        S.InstallModelRequest(model_id=LLAMA, workspace_id=env.team.workspace_id), metadata=env.md()
    )
    opening = await stream.read()
    assert isinstance(opening, S.InstallModelResponse)
    await env.model.kill()
    await other_process.deps.backends.cache.delete(installs.lease_key(opening.progress.job_id))
    env.ollama.pull_mode = None

    events = await env.install(server=other_process)

    assert events[-1].job_id != opening.progress.job_id
    assert events[-1].status == S.INSTALL_STATUS_READY
    dead = await other_process.stub.GetInstallJob(
        S.GetInstallJobRequest(job_id=opening.progress.job_id), metadata=env.md()
    )
    assert (dead.job.progress.status, dead.job.progress.error) == (S.INSTALL_STATUS_ERROR, INTERRUPTED)


async def test_a_restart_forgets_what_ollama_no_longer_has(env: Env) -> None:
    events = await env.install()
    del env.ollama.installed["llama2:latest"]  # removed behind our back (`ollama rm`)
    await env.model.kill()

    restarted = await env.start_model()
    code, _ = await rpc_error(
        restarted.stub.GetInstallJob(S.GetInstallJobRequest(job_id=events[-1].job_id), metadata=env.md())
    )

    assert code == grpc.StatusCode.NOT_FOUND
    assert LLAMA not in await env.installed()


async def test_remove_deletes_from_ollama_and_marks_not_installed(env: Env) -> None:
    await env.install(MISTRAL)
    assert MISTRAL in await env.installed()

    removed = await env.model.stub.RemoveModel(
        S.RemoveModelRequest(model_id=MISTRAL, workspace_id=env.team.workspace_id), metadata=env.md()
    )

    assert (removed.model.id, removed.model.installed) == (MISTRAL, False)
    assert MISTRAL not in await env.installed()
    assert "mistral:latest" not in env.ollama.installed
    assert (await env.eligibility(MISTRAL)).reason == S.ELIGIBILITY_REASON_NOT_INSTALLED
    assert await env.actions() == ["MODEL_INSTALL_STARTED", "MODEL_INSTALLED", "MODEL_REMOVED"]
    code, _ = await rpc_error(
        env.model.stub.RemoveModel(
            S.RemoveModelRequest(model_id=MISTRAL, workspace_id=env.team.workspace_id), metadata=env.md()
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_only_local_models_install(env: Env) -> None:
    code, error = await rpc_error(env.install("gpt-4o-mini"))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.field, error.reason) == ("model_id", "NOT_LOCAL")
    assert env.ollama.requests_to("/api/pull") == []


async def test_an_editor_may_not_install_or_remove_but_a_custom_role_with_model_install_may(env: Env) -> None:
    editor = await env.team.join("editor")

    code, error = await rpc_error(env.install(by=editor))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "model:install" in error.message
    code, _ = await rpc_error(
        env.model.stub.RemoveModel(
            S.RemoveModelRequest(model_id=LLAMA, workspace_id=env.team.workspace_id), metadata=env.md(editor)
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert env.ollama.requests_to("/api/pull") == []
    assert await env.actions() == []

    await env.team.ws.CreateRole(
        workspace_pb2.CreateRoleRequest(
            workspace_id=env.team.workspace_id,
            name="Installer",
            permissions=["model:install", "model:use:local", "chat:view:own"],
        ),
        metadata=env.md(),
    )
    installer = await env.team.join("Installer", name="ivy")
    events = await env.install(by=installer)
    assert events[-1].status == S.INSTALL_STATUS_READY


async def test_another_tenants_job_and_workspace_are_not_found(env: Env) -> None:
    events = await env.install()
    stranger = await new_team(env.platform, "Other")
    md = env.platform.metadata(stranger.owner.token)

    for call in (
        env.model.stub.GetInstallJob(S.GetInstallJobRequest(job_id=events[-1].job_id), metadata=md),
        _drain(
            env.model.stub.WatchInstallJob(S.WatchInstallJobRequest(job_id=events[-1].job_id), metadata=md)
        ),
        _drain(
            env.model.stub.InstallModel(
                S.InstallModelRequest(model_id=MISTRAL, workspace_id=env.team.workspace_id), metadata=md
            )
        ),
        env.model.stub.GetInstallJob(S.GetInstallJobRequest(job_id="not-an-id"), metadata=md),
    ):
        code, _ = await rpc_error(call)
        assert code == grpc.StatusCode.NOT_FOUND
    assert LLAMA not in await env.installed(stranger.owner.tenant_id)


async def _drain(stream: Any) -> list[Any]:
    return [answer async for answer in stream]
