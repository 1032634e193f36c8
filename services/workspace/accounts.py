"""What the workspace service needs to know about accounts, asked of the auth service (which owns them) over
gRPC, acting as the caller: their email, and who in their tenant has a given email."""

from __future__ import annotations

from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from services.runtime.clients import Channels


class Accounts:
    def __init__(self, channels: Channels) -> None:
        self._channels = channels

    def _auth(self) -> auth_pb2_grpc.AuthServiceStub:
        return self._channels.stub("auth", auth_pb2_grpc.AuthServiceStub)

    async def caller_email(self) -> str:
        """The signed-in caller's email, as auth stores it (normalised)."""
        response = await self._auth().GetMe(auth_pb2.GetMeRequest())
        return str(response.user.email)

    async def user_ids_with_email(self, email: str) -> list[str]:
        """Ids of the caller's tenant's users with this email (none or one)."""
        response = await self._auth().LookupUsersByEmail(auth_pb2.LookupUsersByEmailRequest(emails=[email]))
        return [str(user.id) for user in response.users]
