import datetime

from geko.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINISH_REASON_UNSPECIFIED: _ClassVar[FinishReason]
    FINISH_REASON_STOP: _ClassVar[FinishReason]
    FINISH_REASON_LENGTH: _ClassVar[FinishReason]
    FINISH_REASON_TOOL_CALLS: _ClassVar[FinishReason]
    FINISH_REASON_CONTENT_FILTER: _ClassVar[FinishReason]
    FINISH_REASON_CANCELLED: _ClassVar[FinishReason]
FINISH_REASON_UNSPECIFIED: FinishReason
FINISH_REASON_STOP: FinishReason
FINISH_REASON_LENGTH: FinishReason
FINISH_REASON_TOOL_CALLS: FinishReason
FINISH_REASON_CONTENT_FILTER: FinishReason
FINISH_REASON_CANCELLED: FinishReason

class StreamChatRequest(_message.Message):
    __slots__ = ("workspace_id", "conversation_id", "model_id", "message", "tools", "max_output_tokens", "turn_id", "system_prompt")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    conversation_id: str
    model_id: str
    message: str
    tools: _containers.RepeatedScalarFieldContainer[str]
    max_output_tokens: int
    turn_id: str
    system_prompt: str
    def __init__(self, workspace_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., model_id: _Optional[str] = ..., message: _Optional[str] = ..., tools: _Optional[_Iterable[str]] = ..., max_output_tokens: _Optional[int] = ..., turn_id: _Optional[str] = ..., system_prompt: _Optional[str] = ...) -> None: ...

class StreamChatResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: ChatEvent
    def __init__(self, event: _Optional[_Union[ChatEvent, _Mapping]] = ...) -> None: ...

class ResumeChatRequest(_message.Message):
    __slots__ = ("turn_id", "after_sequence")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    after_sequence: int
    def __init__(self, turn_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class ResumeChatResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: ChatEvent
    def __init__(self, event: _Optional[_Union[ChatEvent, _Mapping]] = ...) -> None: ...

class CancelChatRequest(_message.Message):
    __slots__ = ("turn_id",)
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    def __init__(self, turn_id: _Optional[str] = ...) -> None: ...

class CancelChatResponse(_message.Message):
    __slots__ = ("cancelled",)
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    cancelled: bool
    def __init__(self, cancelled: _Optional[bool] = ...) -> None: ...

class ChatEvent(_message.Message):
    __slots__ = ("turn_id", "sequence", "started", "delta", "tool_call", "tool_result", "completed", "failed")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    sequence: int
    started: ChatStarted
    delta: ChatDelta
    tool_call: ChatToolCall
    tool_result: ChatToolResult
    completed: ChatCompleted
    failed: ChatFailed
    def __init__(self, turn_id: _Optional[str] = ..., sequence: _Optional[int] = ..., started: _Optional[_Union[ChatStarted, _Mapping]] = ..., delta: _Optional[_Union[ChatDelta, _Mapping]] = ..., tool_call: _Optional[_Union[ChatToolCall, _Mapping]] = ..., tool_result: _Optional[_Union[ChatToolResult, _Mapping]] = ..., completed: _Optional[_Union[ChatCompleted, _Mapping]] = ..., failed: _Optional[_Union[ChatFailed, _Mapping]] = ...) -> None: ...

class ChatStarted(_message.Message):
    __slots__ = ("turn_id", "conversation_id", "message_id", "model_id", "start_time")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    conversation_id: str
    message_id: str
    model_id: str
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, turn_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., model_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ChatDelta(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class ChatToolCall(_message.Message):
    __slots__ = ("id", "name", "arguments_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    arguments_json: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., arguments_json: _Optional[str] = ...) -> None: ...

class ChatToolResult(_message.Message):
    __slots__ = ("tool_call_id", "name", "content", "is_error")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    IS_ERROR_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    name: str
    content: str
    is_error: bool
    def __init__(self, tool_call_id: _Optional[str] = ..., name: _Optional[str] = ..., content: _Optional[str] = ..., is_error: _Optional[bool] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "total_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ...) -> None: ...

class QuotaState(_message.Message):
    __slots__ = ("plan", "tokens_limit", "tokens_used", "tokens_remaining", "requests_limit", "requests_used", "percent_used", "warning", "reset_time", "upgrade_url")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_USED_FIELD_NUMBER: _ClassVar[int]
    TOKENS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_USED_FIELD_NUMBER: _ClassVar[int]
    PERCENT_USED_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    RESET_TIME_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_URL_FIELD_NUMBER: _ClassVar[int]
    plan: _common_pb2.Plan
    tokens_limit: int
    tokens_used: int
    tokens_remaining: int
    requests_limit: int
    requests_used: int
    percent_used: float
    warning: bool
    reset_time: _timestamp_pb2.Timestamp
    upgrade_url: str
    def __init__(self, plan: _Optional[_Union[_common_pb2.Plan, str]] = ..., tokens_limit: _Optional[int] = ..., tokens_used: _Optional[int] = ..., tokens_remaining: _Optional[int] = ..., requests_limit: _Optional[int] = ..., requests_used: _Optional[int] = ..., percent_used: _Optional[float] = ..., warning: _Optional[bool] = ..., reset_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., upgrade_url: _Optional[str] = ...) -> None: ...

class ChatCompleted(_message.Message):
    __slots__ = ("message_id", "usage", "cost_micros", "currency", "quota", "finish_reason")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    usage: Usage
    cost_micros: int
    currency: str
    quota: QuotaState
    finish_reason: FinishReason
    def __init__(self, message_id: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., cost_micros: _Optional[int] = ..., currency: _Optional[str] = ..., quota: _Optional[_Union[QuotaState, _Mapping]] = ..., finish_reason: _Optional[_Union[FinishReason, str]] = ...) -> None: ...

class ChatFailed(_message.Message):
    __slots__ = ("code", "message", "upgrade_url", "retry_after_seconds", "usage", "cost_micros", "quota")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_URL_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    upgrade_url: str
    retry_after_seconds: int
    usage: Usage
    cost_micros: int
    quota: QuotaState
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., upgrade_url: _Optional[str] = ..., retry_after_seconds: _Optional[int] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., cost_micros: _Optional[int] = ..., quota: _Optional[_Union[QuotaState, _Mapping]] = ...) -> None: ...
