"""Parsing private keys and describing public keys, with asyncssh."""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh

MAX_KEY_CHARS = 16_384


@dataclass(frozen=True)
class KeyFacts:
    key_type: str
    fingerprint: str
    public_key: str


class KeyProblemError(ValueError):
    """The key cannot be used; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def describe(key: asyncssh.SSHKey) -> KeyFacts:
    """Type, SHA-256 fingerprint and OpenSSH public key line of a (public or private) key."""
    public = key.convert_to_public()
    public.set_comment(None)
    return KeyFacts(
        key_type=key.get_algorithm(),
        fingerprint=key.get_fingerprint("sha256"),
        public_key=public.export_public_key("openssh").decode().strip(),
    )


def load_private_key(text: str, passphrase: str | None) -> asyncssh.SSHKey:
    """The key (OpenSSH or PEM), or `KeyProblemError` saying what is wrong without echoing it."""
    if len(text) > MAX_KEY_CHARS:
        raise KeyProblemError("private_key", f"is longer than {MAX_KEY_CHARS} characters")
    try:
        return asyncssh.import_private_key(text.strip() + "\n", passphrase or None)
    except asyncssh.KeyEncryptionError:
        raise KeyProblemError("passphrase", "the passphrase does not decrypt this key") from None
    except asyncssh.KeyImportError as exc:
        message = str(exc)
        if "Passphrase must be specified" in message:
            raise KeyProblemError(
                "passphrase", "the key is encrypted: give its passphrase"
            ) from None
        if "decrypt" in message.lower():
            raise KeyProblemError(
                "passphrase", "the passphrase does not decrypt this key"
            ) from None
        raise KeyProblemError(
            "private_key", "is not a private key in OpenSSH or PEM format"
        ) from None
    except Exception:  # whatever asyncssh raises on arbitrary text: not a usable key
        raise KeyProblemError(
            "private_key", "is not a private key in OpenSSH or PEM format"
        ) from None


def load_public_key(text: str) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(text)
