"""Enrollment tokens and node credentials: format, parsing, hashing, fingerprints."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dockyard.kit.tls import ensure_self_signed
from dockyard.nodes import credentials
from dockyard.settings import Settings


def test_token_without_fingerprint_round_trips() -> None:
    token = credentials.new_enrollment_token(None)
    assert token.value.startswith("dye_")
    assert "." not in token.value
    parsed = credentials.parse_enrollment_token(token.value)
    assert parsed == token
    assert parsed is not None
    assert parsed.hash == token.hash
    assert token.hash == hashlib.sha256(token.value.encode()).hexdigest()
    assert token.value not in token.hash


def test_token_with_fingerprint_hashes_only_the_secret() -> None:
    fp = "ab" * 32
    token = credentials.new_enrollment_token(fp)
    assert token.value.endswith("." + fp)
    parsed = credentials.parse_enrollment_token(token.value)
    assert parsed is not None
    assert parsed.fingerprint == fp
    assert parsed.hash == credentials.EnrollmentToken(token.secret, None).hash


def test_tokens_are_random_and_malformed_ones_are_refused() -> None:
    assert credentials.new_enrollment_token(None) != credentials.new_enrollment_token(None)
    for bad in ("", "dye_", "dye_short", "dyx_" + "a" * 43, "dye_" + "a" * 43 + ".nothex", "x"):
        assert credentials.parse_enrollment_token(bad) is None


def test_credential_names_its_node() -> None:
    credential = credentials.new_credential(42)
    assert credential.startswith("dyn_42_")
    assert credentials.credential_node_id(credential) == 42
    assert credentials.new_credential(42) != credential
    for bad in ("dyn_0_" + "a" * 43, "dyn_x_" + "a" * 43, "dyn_4_short", "dye_4_" + "a" * 43):
        assert credentials.credential_node_id(bad) is None


def test_matches_compares_hashes() -> None:
    credential = credentials.new_credential(7)
    stored = credentials.hash_secret(credential)
    assert credentials.matches(credential, stored)
    assert not credentials.matches(credential + "x", stored)
    assert not credentials.matches(credential, None)
    assert not credentials.matches(credential, "")


def test_server_fingerprint(tmp_path: Path) -> None:
    plain = Settings(data_dir=tmp_path)
    assert credentials.server_fingerprint(plain) is None
    cert_path, _ = ensure_self_signed(tmp_path)
    der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    expected = hashlib.sha256(der).hexdigest()
    assert credentials.server_fingerprint(Settings(data_dir=tmp_path, tls_self_signed=True)) == (
        expected
    )
    assert credentials.server_fingerprint(Settings(data_dir=tmp_path, tls_cert=cert_path)) == (
        expected
    )
    token = credentials.new_enrollment_token(expected)
    assert token.value.endswith("." + expected)
