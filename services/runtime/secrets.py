"""Secrets at rest (signing keys, provider API keys) are encrypted with one platform key (Fernet).

The key comes from GEKO_SECRET_KEY in production; the embedded mode makes one in the data dir on first start,
readable by the owner only. Losing the key makes stored secrets unreadable: back it up with the database.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from services.runtime.errors import InternalError
from services.runtime.settings import Settings

KEY_FILE_NAME = "secret.key"


class SecretBox:
    """Authenticated encryption (AES-128-CBC + HMAC-SHA256, Fernet) of short secrets as URL-safe text."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, binascii.Error):
            raise ValueError(
                "the secret key must be 32 url-safe base64-encoded bytes (Fernet.generate_key())"
            ) from None

    def encrypt(self, plaintext: str | bytes) -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, ciphertext: str) -> bytes:
        """The plaintext; raises `InternalError` if the text was altered or encrypted under another key."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise InternalError("a stored secret cannot be decrypted (wrong GEKO_SECRET_KEY?)") from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def load_secret_key(settings: Settings) -> bytes:
    """GEKO_SECRET_KEY when set, else `<data_dir>/secret.key`, created (mode 0600) on first use."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        key = settings.secret_key.get_secret_value().strip().encode()
        _check_key(key, "GEKO_SECRET_KEY")
        return key
    path = settings.data_dir / KEY_FILE_NAME
    if not path.exists():
        _create_key_file(path)
    key = path.read_bytes().strip()
    _check_key(key, str(path))
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting together cannot both write a key; the loser reads the winner's.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as file:
        file.write(Fernet.generate_key())


def _check_key(key: bytes, source: str) -> None:
    try:
        valid = len(base64.urlsafe_b64decode(key)) == 32
    except (ValueError, binascii.Error):
        valid = False
    if not valid:
        raise ValueError(f"{source}: not a valid secret key (expected 32 url-safe base64-encoded bytes)")
