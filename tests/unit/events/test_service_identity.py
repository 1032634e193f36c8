"""The service token: derived from the shared secret key alone, the same in every process, useless without
the key; verifiers given the key answer it as the platform (role "service", no user, no tenant)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.runtime.context import Principal, current_principal, require_service
from services.runtime.errors import Forbidden, Unauthenticated
from services.runtime.service_identity import (
    SERVICE_TOKEN_PREFIX,
    service_metadata,
    service_token,
)
from services.runtime.settings import Settings
from services.runtime.tokens import JwksTokenVerifier


async def _no_jwks() -> str:
    raise AssertionError("a service token must not fetch signing keys")


async def _no_remote(token: str) -> Principal:
    raise AssertionError("a service token must not be verified remotely")


def test_the_token_is_deterministic_per_key() -> None:
    key, other = Fernet.generate_key(), Fernet.generate_key()

    token = service_token(key)

    assert token.startswith(SERVICE_TOKEN_PREFIX)
    assert token == service_token(key)
    assert token != service_token(other)


def test_metadata_carries_the_token_of_the_configured_key(settings: Settings) -> None:
    key = Fernet.generate_key()
    configured = settings.model_copy(update={"secret_key": SecretStr(key.decode())})

    assert service_metadata(configured) == (("authorization", f"Bearer {service_token(key)}"),)


async def test_a_verifier_with_the_key_answers_the_platform(settings: Settings) -> None:
    key = Fernet.generate_key()
    verifier = JwksTokenVerifier(_no_jwks, _no_remote, settings, service_key=key)

    principal = await verifier.verify(service_token(key))

    assert (principal.user_id, principal.tenant_id, principal.role) == ("", "", "service")
    assert principal.is_service
    assert principal.token == service_token(key)


@pytest.mark.parametrize("with_key", [True, False])
async def test_a_wrong_or_unexpected_service_token_is_unauthenticated(
    settings: Settings, with_key: bool
) -> None:
    key = Fernet.generate_key()
    verifier = JwksTokenVerifier(_no_jwks, _no_remote, settings, service_key=key if with_key else None)
    token = service_token(Fernet.generate_key() if with_key else key)  # no key: not even the right one

    with pytest.raises(Unauthenticated):
        await verifier.verify(token)


def test_require_service_admits_only_the_platform() -> None:
    with pytest.raises(Unauthenticated):
        require_service()
    current_principal.set(Principal(user_id="u-1", tenant_id="t-1", role="service"))
    with pytest.raises(Forbidden):
        require_service()  # a user whose role happens to be named "service" is still a user
    current_principal.set(Principal(user_id="u-1", tenant_id="t-1", role="owner"))
    with pytest.raises(Forbidden):
        require_service()
    platform = Principal(user_id="", tenant_id="", role="service", token="gks_x")
    current_principal.set(platform)
    assert require_service() is platform
