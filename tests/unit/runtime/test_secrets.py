import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.runtime.errors import InternalError
from services.runtime.secrets import SecretBox, load_secret_key
from services.runtime.settings import Settings


def test_round_trip_of_text_and_bytes() -> None:
    box = SecretBox(Fernet.generate_key())

    sealed = box.encrypt("sk-provider-key")

    assert "sk-provider-key" not in sealed
    assert box.decrypt(sealed) == b"sk-provider-key"
    assert box.decrypt(box.encrypt(b"\x00\xff")) == b"\x00\xff"


def test_altered_or_foreign_ciphertext_is_refused() -> None:
    box = SecretBox(Fernet.generate_key())
    sealed = box.encrypt("secret")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")

    with pytest.raises(InternalError, match="cannot be decrypted"):
        box.decrypt(tampered)
    with pytest.raises(InternalError):
        SecretBox(Fernet.generate_key()).decrypt(sealed)


def test_bad_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 url-safe"):
        SecretBox(b"too-short")


def test_key_file_is_created_once_with_owner_only_access(settings: Settings) -> None:
    first = load_secret_key(settings)
    second = load_secret_key(settings)
    key_file = settings.data_dir / "secret.key"

    assert first == second
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SecretBox(first).decrypt(SecretBox(second).encrypt("x")) == b"x"


def test_key_from_settings_wins_over_the_file(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    settings = Settings(_env_file=None, data_dir=tmp_path, secret_key=SecretStr(key.decode()))  # type: ignore[call-arg]

    assert load_secret_key(settings) == key
    assert not (tmp_path / "secret.key").exists()


def test_invalid_key_in_settings_names_the_variable(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, secret_key=SecretStr("nope"))  # type: ignore[call-arg]

    with pytest.raises(ValueError, match="GEKO_SECRET_KEY"):
        load_secret_key(settings)
