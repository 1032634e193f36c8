import uuid
from datetime import UTC

from services.runtime.clock import utcnow
from services.runtime.ids import new_id


def test_new_id_is_a_version_7_rfc_uuid() -> None:
    value = uuid.UUID(new_id())

    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_ids_sort_in_creation_order_and_never_repeat() -> None:
    ids = [new_id() for _ in range(5000)]

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_id_carries_the_current_millisecond() -> None:
    before = int(utcnow().timestamp() * 1000)
    millis = uuid.UUID(new_id()).int >> 80
    after = int(utcnow().timestamp() * 1000)

    assert before - 1 <= millis <= after + 1


def test_utcnow_is_timezone_aware_utc() -> None:
    assert utcnow().tzinfo is UTC
