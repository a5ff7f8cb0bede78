"""`SecretBox`: encrypt small secrets at rest with a key derived from the server secret.

Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) under a key derived by HKDF-SHA256
from the server's secret key, so nothing else needs to be kept. Rotating the server secret
makes old ciphertexts unreadable: re-encrypt them with the old secret first (see
docs/operations.md) or enter the secrets again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"dockyard secret box v1"


class SecretBoxError(Exception):
    """A ciphertext could not be decrypted (wrong key, or tampered with)."""


def _derive(secret_key: str, purpose: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"dockyard:" + purpose.encode(),
        info=_INFO,
    )
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


class SecretBox:
    """`SecretBox(secret_key).encrypt(text) -> str` and `.decrypt(token) -> str`."""

    def __init__(self, secret_key: str, purpose: str = "secrets") -> None:
        if not secret_key:
            raise ValueError("SecretBox needs a non-empty secret key")
        self._fernet = Fernet(_derive(secret_key, purpose))

    def encrypt(self, plaintext: str | bytes) -> str:
        """The ciphertext (URL-safe base64 text) of `plaintext`."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str | bytes) -> str:
        """The plaintext of `token`; `SecretBoxError` when the key is wrong or it was altered."""
        data = token.encode("ascii") if isinstance(token, str) else token
        try:
            return self._fernet.decrypt(data).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretBoxError(
                "A stored secret cannot be decrypted with the current secret key."
            ) from exc
