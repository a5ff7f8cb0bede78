"""TOTP helpers: window, reuse of a time-step, recovery codes, device names."""

from __future__ import annotations

import base64
import time

import pyotp

from dockyard.auth import mfa
from dockyard.auth.account import describe_device


def test_codes_of_adjacent_steps_match_once() -> None:
    secret = mfa.new_secret()
    now = time.time()
    step = int(now // 30)
    totp = pyotp.TOTP(secret)
    assert mfa.match_totp(secret, totp.at(now), last_used_step=None, now=now) == step
    assert mfa.match_totp(secret, totp.at(now - 30), last_used_step=None, now=now) == step - 1
    assert mfa.match_totp(secret, totp.at(now + 30), last_used_step=None, now=now) == step + 1
    assert mfa.match_totp(secret, totp.at(now + 90), last_used_step=None, now=now) is None
    # A used step (or an older one) is refused.
    assert mfa.match_totp(secret, totp.at(now), last_used_step=step, now=now) is None
    assert mfa.match_totp(secret, totp.at(now - 30), last_used_step=step, now=now) is None
    assert mfa.match_totp(secret, totp.at(now + 30), last_used_step=step, now=now) == step + 1
    assert mfa.match_totp(secret, "12345", last_used_step=None, now=now) is None
    assert (
        mfa.match_totp(
            secret, " " + totp.at(now)[:3] + " " + totp.at(now)[3:], last_used_step=None, now=now
        )
        == step
    )


def test_recovery_codes_are_random_and_hashed_normalized() -> None:
    codes = mfa.new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert len(code) == 19
        assert code.count("-") == 3
        assert not mfa.looks_like_totp(code)
        assert mfa.hash_recovery_code(code) == mfa.hash_recovery_code(code.upper().replace("-", ""))


def test_the_qr_code_is_an_inline_svg() -> None:
    uri = mfa.provisioning_uri(mfa.new_secret(), "ops@example.com")
    assert uri.startswith("otpauth://totp/Dockyard:ops%40example.com?")
    data = mfa.qr_svg_data_uri(uri)
    svg = base64.b64decode(data.removeprefix("data:image/svg+xml;base64,")).decode()
    assert svg.startswith("<svg")
    assert "<script" not in svg


def test_device_names() -> None:
    assert describe_device(None) == "Unknown device"
    assert describe_device("python-httpx/0.28.1") == "Dockyard CLI / httpx"
    assert (
        describe_device("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Edg/126.0")
        == "Edge on Windows"
    )
