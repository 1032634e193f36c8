"""Password hashing and the minimum policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from services.auth import passwords
from services.auth.passwords import check_password_policy, hash_password, verify_password
from services.runtime.errors import BadInput, ErrorCode


def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    stored = hash_password("correct horse 42")

    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse 42").ok
    assert not verify_password(stored, "correct horse 43").ok


def test_two_hashes_of_one_password_differ() -> None:
    assert hash_password("same password 1") != hash_password("same password 1")


def test_unknown_user_never_verifies_even_with_the_dummy_password() -> None:
    assert not verify_password(None, "geko-dummy-password-for-timing-parity").ok
    assert not verify_password(None, "anything at all 1").ok


def test_malformed_stored_hash_is_a_failed_login_not_a_crash() -> None:
    assert not verify_password("not-a-hash", "whatever 123").ok


def test_hash_with_old_parameters_is_upgraded_on_success(monkeypatch: pytest.MonkeyPatch) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("upgrade me 123")

    result = verify_password(weak, "upgrade me 123")

    assert result.ok
    assert result.new_hash is not None
    assert result.new_hash != weak
    assert "m=19456,t=2,p=1" in result.new_hash
    assert verify_password(result.new_hash, "upgrade me 123") == passwords.Verification(ok=True)


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short1!", "at least 10"),
        ("a1" * 129, "at most 256"),
        ("onlylettershere", "mix letters"),
        ("1234567890123", "mix letters"),
        ("!!!!!!!!!!!!", "mix letters"),
        ("Ann@Example.com", "email"),
    ],
)
def test_policy_rejects_weak_passwords_naming_the_field(password: str, fragment: str) -> None:
    with pytest.raises(BadInput) as caught:
        check_password_policy(password, email="ann@example.com")

    assert caught.value.field == "password"
    assert caught.value.code == ErrorCode.BAD_USER_INPUT
    assert fragment in caught.value.message


@pytest.mark.parametrize("password", ["correct horse 42", "x" * 9 + "!", "Pässwörter-99", "a1" * 128])
def test_policy_accepts_reasonable_passwords(password: str) -> None:
    check_password_policy(password, email="ann@example.com")
