"""The gRPC contracts: buf-lint clean, stubs fresh, each service with its promised RPCs, no float money.

Other services and the gateway code against these names, so a renamed or missing RPC must fail here first.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor, ServiceDescriptor

from services.runtime.settings import SERVICES

ROOT = Path(__file__).resolve().parents[2]

# DESIGN.md §1's examples of RPCs per service, plus what the issues name; True marks a server stream.
EXPECTED_RPCS: dict[str, dict[str, bool]] = {
    "auth": dict.fromkeys(
        ["Register", "Login", "Refresh", "Logout", "GetMe", "VerifyToken", "GetJwks", "CreateApiKey"], False
    ),
    "workspace": dict.fromkeys(
        [
            "CreateWorkspace",
            "ListWorkspaces",
            "InviteMember",
            "AcceptInvitation",
            "UpdateMemberRole",
            "CheckPermission",
            "ListPermissions",
        ],
        False,
    ),
    "model": {
        "ListModels": False,
        "ListEligibleModels": False,
        "SetWorkspaceModels": False,
        "InstallModel": True,
        "WatchInstallJob": True,
        "RemoveModel": False,
    },
    "chat": {"StreamChat": True, "ResumeChat": True, "CancelChat": False},
    "memory": dict.fromkeys(
        ["CreateConversation", "AppendMessage", "ListMessages", "AssembleContext"], False
    ),
    "billing": dict.fromkeys(
        [
            "GetQuota",
            "ReserveTokens",
            "CommitUsage",
            "ReleaseReservation",
            "GetUsage",
            "CreateCheckoutSession",
            "ApplyStripeEvent",
        ],
        False,
    ),
    "audit": {
        "Record": False,
        "ListAuditEvents": False,
        "ExportAuditEvents": True,
        "VerifyAuditChain": False,
    },
}

MONEY_WORDS = ("cost", "price", "amount", "budget")
FLOATS = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)


def _file(service: str) -> FileDescriptor:
    module = importlib.import_module(f"geko.{service}.v1.{service}_pb2")
    descriptor: FileDescriptor = module.DESCRIPTOR
    return descriptor


def _service(service: str) -> ServiceDescriptor:
    return _file(service).services_by_name[f"{service.capitalize()}Service"]


def _messages(descriptor: Descriptor) -> Iterator[Descriptor]:
    yield descriptor
    for nested in descriptor.nested_types:
        yield from _messages(nested)


def _all_fields() -> Iterator[FieldDescriptor]:
    for service in (*SERVICES, "common"):
        for top in _file(service).message_types_by_name.values():
            for message in _messages(top):
                yield from message.fields


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)


def test_buf_lint_is_clean() -> None:
    result = _run(str(ROOT / ".venv" / "bin" / "buf"), "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_stubs_are_fresh() -> None:
    result = _run(sys.executable, "scripts/gen_proto.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_has_a_contract() -> None:
    assert set(EXPECTED_RPCS) == set(SERVICES)
    for service in SERVICES:
        descriptor = _service(service)
        assert descriptor.full_name == f"geko.{service}.v1.{service.capitalize()}Service"


@pytest.mark.parametrize("service", SERVICES)
def test_service_has_the_promised_rpcs(service: str) -> None:
    methods = _service(service).methods_by_name
    for name, server_streaming in EXPECTED_RPCS[service].items():
        assert name in methods, f"{service} lacks {name}"
        assert methods[name].server_streaming is server_streaming, f"{service}.{name} streaming"


@pytest.mark.parametrize("service", SERVICES)
def test_rpcs_use_their_own_request_and_response(service: str) -> None:
    """One request/response pair per RPC, named after it, so any RPC can grow without touching another."""
    for method in _service(service).methods:
        assert method.client_streaming is False, method.full_name
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"


def test_no_money_field_is_a_float() -> None:
    floats = [
        field.full_name
        for field in _all_fields()
        if field.type in FLOATS and any(word in field.name for word in (*MONEY_WORDS, "total"))
    ]
    assert floats == []


def test_money_fields_are_int64_micros() -> None:
    """Scalar money fields name their unit; money messages (ModelPrice, Budget) hold such fields."""
    wrong = [
        field.full_name
        for field in _all_fields()
        if any(word in field.name for word in MONEY_WORDS)
        and field.type not in (FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_MESSAGE)
        and not (field.type == FieldDescriptor.TYPE_INT64 and field.name.endswith("_micros"))
    ]
    assert wrong == []


def test_fields_were_found() -> None:
    """Guards the two checks above against walking nothing."""
    names = {field.full_name for field in _all_fields()}
    assert "geko.billing.v1.UsageRecord.cost_micros" in names
    assert "geko.model.v1.Model.input_price_per_1k_tokens_micros" in names


def _documented_rpcs() -> dict[str, set[str]]:
    """`## <service full name> — …` headings with `- `Rpc` …` lines under them, from docs/api/grpc.md."""
    documented: dict[str, set[str]] = {}
    current: set[str] = set()
    for line in (ROOT / "docs" / "api" / "grpc.md").read_text().splitlines():
        if line.startswith("## "):
            current = documented.setdefault(line[3:].split(" ")[0], set())
        elif line.startswith("- `"):
            name, rest = line[3:].split("`", 1)
            current.add(name + (" ⇉" if rest.startswith(" ⇉") else ""))
    return documented


def test_reference_lists_every_rpc() -> None:
    """docs/api/grpc.md names exactly the RPCs of the contracts, streams marked, so it cannot drift."""
    expected = {
        _service(service).full_name: {
            method.name + (" ⇉" if method.server_streaming else "") for method in _service(service).methods
        }
        for service in SERVICES
    }
    assert _documented_rpcs() == expected
