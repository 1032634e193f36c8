from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.messages import timestamp


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # negative seconds, positive nanos
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 29, 12, 0, 0, 123456),  # naive: UTC
        datetime(2026, 11, 29, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_a_timestamp_is_what_protobufs_own_conversion_makes(moment: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(moment)

    assert timestamp(moment) == expected


def test_no_datetime_leaves_the_field_unset() -> None:
    assert timestamp(None) is None
