"""Access token and API key verification: every bad token is UNAUTHENTICATED with a message that says why."""

import base64
import json
import time
from typing import Any

import pytest
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey, RSAKey

from services.runtime.context import Principal
from services.runtime.errors import GekoError, Unauthenticated, UpstreamUnavailable
from services.runtime.service_identity import SERVICE_TOKEN_PREFIX, service_token
from services.runtime.settings import Settings
from services.runtime.tokens import JwksTokenVerifier
from tests.unit.runtime.jwt_helpers import b64_json as _b64
from tests.unit.runtime.jwt_helpers import claims as _claims
from tests.unit.runtime.jwt_helpers import public_jwk as _public_jwk
from tests.unit.runtime.jwt_helpers import sign as _sign


class FakeAuth:
    """The auth service's two answers, recorded so tests can count calls."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.jwks: list[dict[str, Any]] = list(keys)
        self.jwks_fetches = 0
        self.remote_calls: list[str] = []
        self.remote_error: Exception | None = None
        self.fetch_error: Exception | None = None

    async def fetch_jwks(self) -> str:
        self.jwks_fetches += 1
        if self.fetch_error is not None:
            raise self.fetch_error
        return json.dumps({"keys": self.jwks})

    async def verify_remote(self, token: str) -> Principal:
        self.remote_calls.append(token)
        if self.remote_error is not None:
            raise self.remote_error
        return Principal(
            user_id="u-key", tenant_id="t-key", role="editor", api_key_id="k-1", scopes=("chat",)
        )


@pytest.fixture
def ed_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", auto_kid=True)


@pytest.fixture
def auth(ed_key: OKPKey) -> FakeAuth:
    return FakeAuth(_public_jwk(ed_key, "Ed25519"))


@pytest.fixture
def verifier(auth: FakeAuth, settings: Settings) -> JwksTokenVerifier:
    return JwksTokenVerifier(auth.fetch_jwks, auth.verify_remote, settings)


async def test_valid_token_gives_the_principal(verifier: JwksTokenVerifier, ed_key: OKPKey) -> None:
    token = _sign(ed_key, _claims())

    principal = await verifier.verify(token)

    assert (principal.user_id, principal.tenant_id, principal.role) == ("user-1", "tenant-1", "admin")
    assert principal.token == token
    assert principal.api_key_id is None


async def test_keys_are_fetched_once_for_many_tokens(
    verifier: JwksTokenVerifier, auth: FakeAuth, ed_key: OKPKey
) -> None:
    for _ in range(3):
        await verifier.verify(_sign(ed_key, _claims()))

    assert auth.jwks_fetches == 1


async def test_rs256_token_is_accepted(auth: FakeAuth, settings: Settings) -> None:
    rsa = RSAKey.generate_key(2048, auto_kid=True)
    auth.jwks.append(_public_jwk(rsa, "RS256"))
    verifier = JwksTokenVerifier(auth.fetch_jwks, auth.verify_remote, settings)

    principal = await verifier.verify(_sign(rsa, _claims(sub="rsa-user"), alg="RS256"))

    assert principal.user_id == "rsa-user"


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (
            _claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 4000, nbf=int(time.time()) - 4000),
            "token expired",
        ),
        (_claims(tid=None), "missing claim: tid"),
        (_claims(sub=None), "missing claim: sub"),
        (_claims(role=None), "missing claim: role"),
        (_claims(exp=None), "missing claim: exp"),
        (_claims(iss="someone-else"), "invalid claim: iss"),
        (_claims(aud="another-app"), "invalid claim: aud"),
        (_claims(nbf=int(time.time()) + 3600), "token not yet valid"),
        (_claims(tid=123), "invalid claim: tid"),
    ],
)
async def test_bad_claims_are_rejected(
    verifier: JwksTokenVerifier, ed_key: OKPKey, claims: dict[str, Any], message: str
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(_sign(ed_key, claims))

    assert caught.value.message == message


async def test_tampered_payload_fails_the_signature(verifier: JwksTokenVerifier, ed_key: OKPKey) -> None:
    header, _, signature = _sign(ed_key, _claims()).split(".")
    forged = ".".join([header, _b64(_claims(role="owner")), signature])

    with pytest.raises(Unauthenticated, match=r"^invalid signature$"):
        await verifier.verify(forged)


async def test_token_signed_by_another_key_with_our_kid_fails(
    verifier: JwksTokenVerifier, ed_key: OKPKey
) -> None:
    intruder = OKPKey.generate_key("Ed25519")

    with pytest.raises(Unauthenticated, match=r"^invalid signature$"):
        await verifier.verify(_sign(intruder, _claims(), kid=ed_key.kid))


async def test_wrong_kid_is_unknown_signing_key_and_refetches_at_most_once(
    verifier: JwksTokenVerifier, auth: FakeAuth, ed_key: OKPKey
) -> None:
    await verifier.verify(_sign(ed_key, _claims()))
    stranger = OKPKey.generate_key("Ed25519", auto_kid=True)
    token = _sign(stranger, _claims())

    for _ in range(3):
        with pytest.raises(Unauthenticated, match=r"^unknown signing key$"):
            await verifier.verify(token)

    assert auth.jwks_fetches == 1  # the first fetch was moments ago: no flood of refetches


async def test_rotated_key_is_found_by_refetching(auth: FakeAuth, settings: Settings, ed_key: OKPKey) -> None:
    verifier = JwksTokenVerifier(auth.fetch_jwks, auth.verify_remote, settings, min_refetch_seconds=0)
    await verifier.verify(_sign(ed_key, _claims()))
    rotated = OKPKey.generate_key("Ed25519", auto_kid=True)
    auth.jwks.append(_public_jwk(rotated, "Ed25519"))

    principal = await verifier.verify(_sign(rotated, _claims(sub="after-rotation")))

    assert principal.user_id == "after-rotation"
    assert auth.jwks_fetches == 2


async def test_alg_none_is_refused(verifier: JwksTokenVerifier, ed_key: OKPKey) -> None:
    token = f"{_b64({'alg': 'none', 'kid': ed_key.kid})}.{_b64(_claims())}."

    with pytest.raises(Unauthenticated, match=r"^unsupported token algorithm$"):
        await verifier.verify(token)


async def test_hs256_signed_with_the_public_key_is_refused(
    verifier: JwksTokenVerifier, ed_key: OKPKey
) -> None:
    public_as_secret = OctKey.import_key(json.dumps(ed_key.as_dict(private=False)).encode())
    token = jwt.encode({"alg": "HS256", "kid": ed_key.kid}, _claims(), public_as_secret, algorithms=["HS256"])

    with pytest.raises(Unauthenticated, match=r"^unsupported token algorithm$"):
        await verifier.verify(token)


async def test_rs256_header_on_an_ed25519_kid_is_refused(verifier: JwksTokenVerifier, ed_key: OKPKey) -> None:
    rsa = RSAKey.generate_key(2048)

    with pytest.raises(Unauthenticated, match=r"^invalid signature$"):
        await verifier.verify(_sign(rsa, _claims(), alg="RS256", kid=ed_key.kid))


async def test_eddsa_alias_is_accepted(verifier: JwksTokenVerifier, ed_key: OKPKey) -> None:
    token = f"{_b64({'alg': 'EdDSA', 'kid': ed_key.kid})}.{_b64(_claims())}"
    signature = base64.urlsafe_b64encode(ed_key.private_key.sign(token.encode())).rstrip(b"=").decode()

    principal = await verifier.verify(f"{token}.{signature}")

    assert principal.user_id == "user-1"


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "a.b", "!!!.???.***", f"{_b64({'alg': 'Ed25519'})}.e30.", "x" * 9000, "a.b.c.d.e"],
)
async def test_garbage_is_malformed_or_keyless(verifier: JwksTokenVerifier, token: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)

    assert caught.value.message in {"malformed token", "unknown signing key"}
    assert type(caught.value) is Unauthenticated


async def test_garbage_payload_with_a_known_kid_is_malformed(
    verifier: JwksTokenVerifier, ed_key: OKPKey
) -> None:
    header = _b64({"alg": "Ed25519", "kid": ed_key.kid})

    with pytest.raises(Unauthenticated, match=r"^(malformed token|invalid signature)$"):
        await verifier.verify(f"{header}.bm90IGpzb24.c2ln")


async def test_unreachable_auth_without_cached_keys_is_upstream_unavailable(
    verifier: JwksTokenVerifier, auth: FakeAuth, ed_key: OKPKey
) -> None:
    auth.fetch_error = UpstreamUnavailable("auth down")

    with pytest.raises(UpstreamUnavailable):
        await verifier.verify(_sign(ed_key, _claims()))


async def test_api_key_is_verified_remotely_and_cached_by_hash(
    verifier: JwksTokenVerifier, auth: FakeAuth
) -> None:
    key = "gk_live_0123456789abcdef"

    first = await verifier.verify(key)
    second = await verifier.verify(key)

    assert auth.remote_calls == [key]
    assert first == second
    assert (first.user_id, first.api_key_id, first.scopes) == ("u-key", "k-1", ("chat",))
    assert first.token == key
    assert key not in repr(verifier.__dict__["_api_keys"])


async def test_rejected_api_key_is_unauthenticated(verifier: JwksTokenVerifier, auth: FakeAuth) -> None:
    auth.remote_error = GekoError("API key revoked", code=Unauthenticated.code)

    with pytest.raises(Unauthenticated, match=r"^API key revoked$"):
        await verifier.verify("gk_revoked_key_123456")


async def test_api_key_with_auth_down_is_upstream_unavailable(
    verifier: JwksTokenVerifier, auth: FakeAuth
) -> None:
    auth.remote_error = UpstreamUnavailable("a service is unavailable, try again")

    with pytest.raises(UpstreamUnavailable):
        await verifier.verify("gk_some_key_123456789")


async def test_keys_are_refetched_after_the_cache_time_and_kept_if_auth_is_down(
    auth: FakeAuth, settings: Settings, ed_key: OKPKey
) -> None:
    now = [1000.0]
    verifier = JwksTokenVerifier(
        auth.fetch_jwks,
        auth.verify_remote,
        settings.model_copy(update={"jwks_cache_seconds": 60}),
        clock=lambda: now[0],
    )
    token = _sign(ed_key, _claims())
    await verifier.verify(token)
    now[0] += 61
    await verifier.verify(token)
    fetches_after_expiry = auth.jwks_fetches
    auth.fetch_error = UpstreamUnavailable("auth restarting")
    now[0] += 61

    principal = await verifier.verify(token)

    assert fetches_after_expiry == 2
    assert auth.jwks_fetches == 3
    assert principal.user_id == "user-1"


async def test_a_jwks_answer_that_is_not_a_key_set_is_upstream_unavailable(
    auth: FakeAuth, settings: Settings, ed_key: OKPKey
) -> None:
    async def broken() -> str:
        return "<html>not json</html>"

    verifier = JwksTokenVerifier(broken, auth.verify_remote, settings)

    with pytest.raises(UpstreamUnavailable):
        await verifier.verify(_sign(ed_key, _claims()))


async def test_a_verified_token_is_reused_until_its_key_is_withdrawn(
    auth: FakeAuth, settings: Settings, ed_key: OKPKey
) -> None:
    now = [1000.0]
    verifier = JwksTokenVerifier(
        auth.fetch_jwks,
        auth.verify_remote,
        settings.model_copy(update={"jwks_cache_seconds": 60}),
        clock=lambda: now[0],
    )
    token = _sign(ed_key, _claims())
    first = await verifier.verify(token)
    again = await verifier.verify(token)
    auth.jwks = []  # the key is withdrawn; the next refresh learns it
    now[0] += 61

    with pytest.raises(Unauthenticated) as after_refresh:
        await verifier.verify(token)

    assert again is first  # answered from the cache, signature not checked twice
    assert str(after_refresh.value) == "unknown signing key"


async def test_a_cached_token_is_refused_once_it_expired(
    verifier: JwksTokenVerifier, ed_key: OKPKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = time.time()
    token = _sign(ed_key, _claims(exp=int(issued) + 60))
    principal = await verifier.verify(token)  # verified and cached until its exp
    assert await verifier.verify(token) is principal
    monkeypatch.setattr(time, "time", lambda: issued + 60 + 31)  # past exp and the 30 s leeway

    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)

    assert str(caught.value) == "token expired"


async def test_only_the_service_token_of_the_verifiers_key_is_the_platform(settings: Settings) -> None:
    key, other = Fernet.generate_key(), Fernet.generate_key()
    verifier = JwksTokenVerifier(FakeAuth().fetch_jwks, FakeAuth().verify_remote, settings, service_key=key)
    keyless = JwksTokenVerifier(FakeAuth().fetch_jwks, FakeAuth().verify_remote, settings)

    first = await verifier.verify(service_token(key))
    again = await verifier.verify(service_token(key))
    refused = [
        (verifier, service_token(other)),
        (verifier, service_token(key)[:-1]),
        (verifier, SERVICE_TOKEN_PREFIX + "é"),
        (keyless, service_token(key)),
    ]

    assert first.is_service
    assert first.token == service_token(key)
    assert again == first
    for checker, token in refused:
        with pytest.raises(Unauthenticated, match="invalid service token"):
            await checker.verify(token)
