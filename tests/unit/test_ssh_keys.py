"""SSH key parsing (asyncssh) and bastion parsing, without a server."""

from __future__ import annotations

import asyncssh
import pytest

from dockyard.ssh import keys
from dockyard.ssh.service import parse_bastion


def test_an_unencrypted_openssh_key_is_described() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    loaded = keys.load_private_key(key.export_private_key().decode(), None)
    facts = keys.describe(loaded)
    assert facts.key_type == "ssh-ed25519"
    assert facts.fingerprint == key.get_fingerprint("sha256")
    assert facts.public_key.startswith("ssh-ed25519 AAAA")
    assert len(facts.public_key.split()) == 2  # no comment


@pytest.mark.parametrize(
    ("passphrase", "field", "text"),
    [
        (None, "passphrase", "give its passphrase"),
        ("wrong", "passphrase", "does not decrypt"),
    ],
)
def test_encrypted_pem_keys_need_the_right_passphrase(
    passphrase: str | None, field: str, text: str
) -> None:
    key = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    pem = key.export_private_key("pkcs8-pem", passphrase="right").decode()
    with pytest.raises(keys.KeyProblemError) as problem:
        keys.load_private_key(pem, passphrase)
    assert problem.value.field == field
    assert text in problem.value.message
    assert keys.load_private_key(pem, "right").get_fingerprint() == key.get_fingerprint()


@pytest.mark.parametrize(
    "text", ["", "garbage", "-----BEGIN RSA PRIVATE KEY-----\n!!\n", "\x00" * 10]
)
def test_garbage_is_not_a_key(text: str) -> None:
    with pytest.raises(keys.KeyProblemError) as problem:
        keys.load_private_key(text, None)
    assert problem.value.field == "private_key"


def test_a_public_key_is_not_a_private_key() -> None:
    public = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with pytest.raises(keys.KeyProblemError):
        keys.load_private_key(public, None)


@pytest.mark.parametrize(
    ("bastion", "expected"),
    [
        ("jump.example.com", ("jump.example.com", None)),
        ("ops@Jump.Example.com:2200", ("jump.example.com", 2200)),
        ("10.0.0.1:22", ("10.0.0.1", 22)),
        ("ops@[2001:db8::1]:2222", ("2001:db8::1", 2222)),
        ("[2001:db8::1]", ("2001:db8::1", None)),
    ],
)
def test_parse_bastion(bastion: str, expected: tuple[str, int | None]) -> None:
    assert parse_bastion(bastion) == expected


def test_encrypted_openssh_keys_need_the_right_passphrase() -> None:
    """`ssh-keygen`'s default format (bcrypt KDF) with a passphrase."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    text = key.export_private_key("openssh", passphrase="correct horse").decode()
    loaded = keys.load_private_key(text, "correct horse")
    assert loaded.get_fingerprint("sha256") == key.get_fingerprint("sha256")
    for wrong in ("wrong passphrase", None):
        with pytest.raises(keys.KeyProblemError) as caught:
            keys.load_private_key(text, wrong)
        assert caught.value.field == "passphrase"
