"""What every internal call carries (clients.outgoing_metadata): the caller's metadata as given, plus the
request id, the acting principal's authorization and, for in-process calls, a user agent, each only when
the caller did not pass one."""

from contextvars import copy_context

from services.runtime.clients import outgoing_metadata
from services.runtime.context import Principal, current_principal, current_request_id


def _acting(token: str, request_id: str | None) -> None:
    current_principal.set(Principal(user_id="u", tenant_id="t", role="viewer", token=token))
    current_request_id.set(request_id)


def test_the_request_id_authorization_and_user_agent_are_added_when_absent() -> None:
    def run() -> list[tuple[str, str | bytes]]:
        _acting("tok", "req-1")
        return list(outgoing_metadata((("x-extra", "1"),), user_agent="local-agent"))

    assert copy_context().run(run) == [
        ("x-extra", "1"),
        ("x-request-id", "req-1"),
        ("authorization", "Bearer tok"),
        ("user-agent", "local-agent"),
    ]


def test_what_the_caller_passes_wins() -> None:
    given = (("authorization", "Bearer own"), ("x-request-id", "own-req"), ("user-agent", "own-agent"))

    def run() -> list[tuple[str, str | bytes]]:
        _acting("tok", "req-1")
        return list(outgoing_metadata(given, user_agent="local-agent"))

    assert copy_context().run(run) == list(given)


def test_without_a_request_id_or_principal_a_fresh_id_and_no_authorization() -> None:
    def run() -> list[tuple[str, str | bytes]]:
        current_principal.set(None)
        current_request_id.set(None)
        return list(outgoing_metadata(None))

    first, second = copy_context().run(run), copy_context().run(run)

    assert [key for key, _ in first] == ["x-request-id"]
    assert first != second
    assert all(len(str(value)) == 32 and int(str(value), 16) >= 0 for _, value in first + second)
