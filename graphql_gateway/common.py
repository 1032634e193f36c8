"""GraphQL types and proto conversions shared by every domain of the schema."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

import strawberry
from google.protobuf.timestamp_pb2 import Timestamp

from geko.common.v1 import common_pb2


@strawberry.enum(description="Plan of a tenant or workspace; decides eligible models and default quotas.")
class Plan(Enum):
    FREE = "FREE"
    PRO = "PRO"
    PAYGO = "PAYGO"


def plan_from_proto(plan: int) -> Plan:
    """The GraphQL plan of a proto plan; an unset plan is FREE, the plan every tenant starts on."""
    if plan == common_pb2.PLAN_UNSPECIFIED:
        return Plan.FREE
    return Plan(common_pb2.Plan.Name(plan).removeprefix("PLAN_"))


def to_datetime(timestamp: Timestamp) -> datetime:
    """An aware UTC datetime (GraphQL DateTime) from a proto timestamp."""
    return timestamp.ToDatetime(tzinfo=UTC)


def to_optional_datetime(timestamp: Timestamp) -> datetime | None:
    """None for an unset proto timestamp (proto3 sends the zero value), else the datetime."""
    if timestamp.seconds == 0 and timestamp.nanos == 0:
        return None
    return to_datetime(timestamp)
