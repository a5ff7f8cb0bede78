"""`kit.secrets_box.SecretBox`: authenticated encryption keyed by the server secret."""

from __future__ import annotations

import pytest

from dockyard.kit.secrets_box import SecretBox, SecretBoxError

KEY = "a-server-secret-key-of-enough-length-0123456789"


def test_round_trip_and_randomized() -> None:
    box = SecretBox(KEY)
    first, second = box.encrypt("JBSWY3DPEHPK3PXP"), box.encrypt("JBSWY3DPEHPK3PXP")
    assert first != second
    assert "JBSWY3DPEHPK3PXP" not in first
    assert box.decrypt(first) == box.decrypt(second) == "JBSWY3DPEHPK3PXP"
    assert box.decrypt(box.encrypt("pässwörd ✓")) == "pässwörd ✓"


def test_another_key_or_purpose_cannot_decrypt() -> None:
    token = SecretBox(KEY).encrypt("secret")
    with pytest.raises(SecretBoxError):
        SecretBox(KEY + "x").decrypt(token)
    with pytest.raises(SecretBoxError):
        SecretBox(KEY, purpose="registries").decrypt(token)


@pytest.mark.parametrize("garbage", ["", "not-a-token", "gAAAAA" + "A" * 80])
def test_tampered_or_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(SecretBoxError):
        SecretBox(KEY).decrypt(garbage)


def test_a_flipped_byte_is_refused() -> None:
    box = SecretBox(KEY)
    token = box.encrypt("secret")
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    with pytest.raises(SecretBoxError):
        box.decrypt(flipped)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        SecretBox("")
