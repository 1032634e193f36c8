"""Everything a turn must pass before the provider is called (DESIGN.md §2 step 3), in few round trips:
the permission, the model's eligibility and the conversation are asked for at once; then the history that fits
the model's window, then the tokens are reserved. Nothing is written before the reservation holds, so a denied
turn leaves no trace; a new conversation is stored with the turn's messages when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from geko.chat.v1 import chat_pb2
from geko.memory.v1 import memory_pb2, memory_pb2_grpc
from geko.model.v1 import model_pb2, model_pb2_grpc
from services.providers.base import ChatMessage, Role
from services.runtime.access import WorkspaceAccess, canonical_workspace_id, require_user
from services.runtime.backends import Cache
from services.runtime.clients import Channels
from services.runtime.errors import BadInput, ModelNotAllowed, NotFound
from services.runtime.ids import new_id, parse_id
from services.runtime.plans import PLAN_NAMES, upgrade_url
from services.runtime.settings import Settings
from services.runtime.token_estimate import estimate_tokens

MAX_MESSAGE_CHARS = 200_000
# Role and separator tokens each message costs on top of its text (the usual chat-format overhead).
TOKENS_PER_MESSAGE = 4

_ROLES: dict[int, Role] = {
    memory_pb2.MESSAGE_ROLE_SYSTEM: "system",
    memory_pb2.MESSAGE_ROLE_USER: "user",
    memory_pb2.MESSAGE_ROLE_ASSISTANT: "assistant",
    memory_pb2.MESSAGE_ROLE_TOOL: "tool",
}
_DENIAL_TEXT = {
    model_pb2.ELIGIBILITY_REASON_PLAN_REQUIRED: "needs the {plan} plan",
    model_pb2.ELIGIBILITY_REASON_DISABLED_BY_ADMIN: "is disabled in this workspace",
    model_pb2.ELIGIBILITY_REASON_PERMISSION_REQUIRED: "is not allowed for your role",
    model_pb2.ELIGIBILITY_REASON_NOT_INSTALLED: "is not installed",
    model_pb2.ELIGIBILITY_REASON_PROVIDER_UNAVAILABLE: "has no provider configured",
}


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """A validated StreamChatRequest."""

    turn_id: str
    workspace_id: str
    conversation_id: str  # "" starts a new conversation
    model_id: str
    message: str
    max_output_tokens: int  # 0: the default
    system_prompt: str


@dataclass(frozen=True, slots=True)
class Prepared:
    """A turn that passed every check and holds its reservation."""

    request: TurnRequest
    tenant_id: str
    user_id: str
    conversation_id: str
    new_conversation: bool
    model: model_pb2.Model
    route: model_pb2.ProviderRoute
    messages: list[ChatMessage]
    prompt_tokens: int
    max_output_tokens: int
    reservation_id: str


def validate(request: chat_pb2.StreamChatRequest) -> TurnRequest:
    """BAD_USER_INPUT naming the field for anything malformed; ids in canonical form."""
    workspace_id = canonical_workspace_id(request.workspace_id)
    conversation_id = ""
    if request.conversation_id.strip():
        conversation_id = parse_id(request.conversation_id) or ""
        if not conversation_id:
            raise NotFound("conversation not found")
    if not request.model_id.strip():
        raise BadInput("model is required", field="model")
    if not request.message.strip():
        raise BadInput("message must not be empty", field="message")
    if len(request.message) > MAX_MESSAGE_CHARS:
        raise BadInput(f"message is longer than {MAX_MESSAGE_CHARS} characters", field="message")
    if "\x00" in request.message:
        raise BadInput("message must not contain NUL characters", field="message")
    if request.max_output_tokens < 0:
        raise BadInput("maxTokens must not be negative", field="maxTokens")
    turn_id = new_id()
    if request.turn_id.strip():
        turn_id = parse_id(request.turn_id) or ""
        if not turn_id:
            raise BadInput("turnId must be a UUID", field="turnId")
    return TurnRequest(
        turn_id=turn_id,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        model_id=request.model_id.strip(),
        message=request.message,
        max_output_tokens=request.max_output_tokens,
        system_prompt=request.system_prompt,
    )


def _fit_output(max_output: int, request: TurnRequest, context_window: int) -> int:
    """The output limit that fits the model's window next to the new message and system prompt (history is
    trimmed to fit separately); BAD_USER_INPUT when the message alone leaves no room for an answer."""
    if context_window <= 0:
        return max_output
    texts = (request.system_prompt, request.message)
    prompt = sum(estimate_tokens(text) + TOKENS_PER_MESSAGE for text in texts if text)
    if prompt >= context_window:
        raise BadInput(
            f"message is too long for the model: about {prompt} tokens of its {context_window}-token window",
            field="message",
        )
    return min(max_output, context_window - prompt)


class Preflight:
    def __init__(self, channels: Channels, settings: Settings, cache: Cache) -> None:
        self._channels = channels
        self._settings = settings
        self._access = WorkspaceAccess(channels, cache)

    def _model(self) -> model_pb2_grpc.ModelServiceStub:
        return self._channels.stub("model", model_pb2_grpc.ModelServiceStub)

    def _memory(self) -> memory_pb2_grpc.MemoryServiceStub:
        return self._channels.stub("memory", memory_pb2_grpc.MemoryServiceStub)

    def _billing(self) -> billing_pb2_grpc.BillingServiceStub:
        return self._channels.stub("billing", billing_pb2_grpc.BillingServiceStub)

    async def prepare(self, request: TurnRequest) -> Prepared:
        """Checks, history and reservation; raises the first denial (permission before conversation before
        model, so the error shown is the one that matters most)."""
        principal = require_user()
        # One after the other, in the order of which denial matters most: each is a cache read or a local
        # call, and a gather would cost tasks and loop rounds on every turn (see eligibility.py).
        await self._access.require(request.workspace_id, "chat:create")
        if request.conversation_id:
            await self._conversation(request)
        resolved = await self._model().ResolveModel(
            model_pb2.ResolveModelRequest(
                workspace_id=request.workspace_id, user_id=principal.user_id, model_id=request.model_id
            )
        )
        self._require_usable(resolved, request)
        window = resolved.eligibility.model.context_window
        max_output = _fit_output(
            min(
                request.max_output_tokens or self._settings.chat_default_max_output_tokens,
                resolved.max_output_tokens or self._settings.chat_default_max_output_tokens,
            ),
            request,
            window,
        )
        messages = await self._messages(request, window, max_output)
        prompt_tokens = sum(estimate_tokens(m.content) + TOKENS_PER_MESSAGE for m in messages)
        model = resolved.eligibility.model
        reservation = await self._billing().ReserveTokens(
            billing_pb2.ReserveTokensRequest(
                workspace_id=request.workspace_id,
                user_id=principal.user_id,
                model_id=request.model_id,
                estimated_tokens=prompt_tokens + max_output,
                idempotency_key=request.turn_id,
                model_free_tokens_cap=model.max_free_tokens_per_month,
            )
        )
        return Prepared(
            request=request,
            tenant_id=principal.tenant_id or "",
            user_id=principal.user_id or "",
            # A new conversation is stored with the turn's messages (runner.py), under the id chosen here.
            conversation_id=request.conversation_id or new_id(),
            new_conversation=not request.conversation_id,
            model=model,
            route=resolved.route,
            messages=messages,
            prompt_tokens=prompt_tokens,
            max_output_tokens=max_output,
            reservation_id=reservation.reservation_id,
        )

    async def _conversation(self, request: TurnRequest) -> None:
        """The conversation must be the caller's (others get NOT_FOUND from memory) and in this workspace."""
        found = await self._memory().GetConversation(
            memory_pb2.GetConversationRequest(id=request.conversation_id)
        )
        if found.conversation.workspace_id != request.workspace_id:
            raise NotFound("conversation not found")

    def _require_usable(self, resolved: model_pb2.ResolveModelResponse, request: TurnRequest) -> None:
        eligibility = resolved.eligibility
        if eligibility.usable and resolved.HasField("route"):
            return
        reason = model_pb2.EligibilityReason.Name(eligibility.reason).removeprefix("ELIGIBILITY_REASON_")
        required = PLAN_NAMES.get(eligibility.required_plan, "")
        text = _DENIAL_TEXT.get(eligibility.reason, "cannot be used here").format(plan=required)
        raise ModelNotAllowed(
            f"model {request.model_id!r} {text}",
            reason=reason,
            upgrade_url=upgrade_url(self._settings, request.workspace_id)
            if eligibility.reason == model_pb2.ELIGIBILITY_REASON_PLAN_REQUIRED
            else None,
        )

    async def _messages(
        self, request: TurnRequest, context_window: int, max_output: int
    ) -> list[ChatMessage]:
        """System prompt, the newest history that fits the model's window next to the new message and the
        answer, then the new message."""
        system = [ChatMessage(role="system", content=request.system_prompt)] if request.system_prompt else []
        new = ChatMessage(role="user", content=request.message)
        if not request.conversation_id:
            return [*system, new]
        room = max_output + estimate_tokens(request.message) + TOKENS_PER_MESSAGE
        window = max(context_window, room + 1)
        assembled = await self._memory().AssembleContext(
            memory_pb2.AssembleContextRequest(
                conversation_id=request.conversation_id,
                context_window=window,
                max_output_tokens=room,
                system_prompt=request.system_prompt,
            )
        )
        history = [
            ChatMessage(role=_ROLES[message.role], content=message.content)
            for message in assembled.messages
            if message.role in _ROLES and message.content
        ]
        return [*history, new]
