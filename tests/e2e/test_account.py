"""Account security in a real browser: MFA enrollment (QR + manual key), recovery codes,
an API token, then sign out and sign in again with a TOTP code."""

from __future__ import annotations

import secrets
import time

import httpx
import pyotp
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot

PASSWORD = "Lighthouse-Keeper-E2E-5150"
LIVE = 15_000


def create_user(server: LiveServer, email: str) -> None:
    login = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    )
    assert login.status_code == 200, login.text
    response = httpx.post(
        f"{server.base_url}/api/v1/users",
        json={"email": email, "password": PASSWORD, "role": "operator"},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
    )
    assert response.status_code == 201, response.text


def sign_in_as(page: Page, server: LiveServer, email: str) -> None:
    page.goto(f"{server.base_url}/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def test_mfa_enrollment_then_sign_in_with_a_code(page: Page, live_server: LiveServer) -> None:
    email = f"mfa-{secrets.token_hex(3)}@example.com"
    create_user(live_server, email)
    sign_in_as(page, live_server, email)
    expect(page.get_by_test_id("user-menu")).to_be_visible(timeout=LIVE)

    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("account-link").click()
    expect(page.get_by_test_id("account-page")).to_be_visible(timeout=LIVE)
    expect(page.get_by_test_id("page-title")).to_have_text("Account")
    expect(page.get_by_test_id("mfa-state")).to_have_text("Off")
    expect(page.get_by_test_id("session-row")).to_have_count(1)
    expect(page.get_by_test_id("sessions-table")).to_contain_text("This session")
    shot(page, "account-01-page")

    # Enrollment: re-authenticate, then QR code and manual key.
    page.get_by_test_id("mfa-enroll").click()
    page.get_by_test_id("mfa-password").fill("not-my-password-123")
    page.get_by_test_id("mfa-start").click()
    expect(page.get_by_test_id("mfa-error")).to_contain_text("incorrect")
    page.get_by_test_id("mfa-password").fill(PASSWORD)
    page.get_by_test_id("mfa-start").click()
    qr = page.get_by_test_id("mfa-qr")
    expect(qr).to_be_visible(timeout=LIVE)
    assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml;base64,")
    # The QR image really rendered (an undecodable image has no natural width).
    assert page.evaluate("() => document.querySelector('[data-testid=mfa-qr]').naturalWidth") > 50
    secret = page.get_by_test_id("mfa-secret").inner_text().replace(" ", "")
    assert len(secret) == 32
    shot(page, "account-02-mfa-qr")

    page.get_by_test_id("mfa-code").fill("000000")
    page.get_by_test_id("mfa-confirm").click()
    expect(page.get_by_test_id("mfa-error")).to_contain_text("wrong", timeout=LIVE)
    page.get_by_test_id("mfa-code").fill(pyotp.TOTP(secret).now())
    page.get_by_test_id("mfa-confirm").click()
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10, timeout=LIVE)
    assert all(len(c) == 19 for c in codes.all_inner_texts())
    expect(page.get_by_test_id("recovery-download")).to_be_visible()
    shot(page, "account-03-recovery-codes")
    page.get_by_test_id("recovery-done").click()
    expect(page.get_by_test_id("mfa-state")).to_have_text("On", timeout=LIVE)
    expect(page.get_by_test_id("mfa-codes-left")).to_contain_text("10 recovery codes left")

    # An API token, shown once.
    page.get_by_test_id("token-new").click()
    page.get_by_test_id("token-name").fill("e2e script")
    page.get_by_test_id("scope-services:read").check()
    page.get_by_test_id("token-create").click()
    token = page.get_by_test_id("new-token")
    expect(token).to_contain_text("dy_pat_", timeout=LIVE)
    value = token.inner_text().strip()
    shot(page, "account-04-token-created")
    page.get_by_test_id("token-done").click()
    expect(page.get_by_test_id("token-row")).to_have_count(1)
    response = httpx.get(
        f"{live_server.base_url}/api/v1/services", headers={"Authorization": f"Bearer {value}"}
    )
    assert response.status_code == 200, response.text
    shot(page, "account-05-mfa-on")

    # Sign out; signing in now takes a code.
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-email")).to_be_visible(timeout=LIVE)
    sign_in_as(page, live_server, email)
    expect(page.get_by_test_id("login-mfa-step")).to_be_visible(timeout=LIVE)
    expect(page.get_by_test_id("login-otp")).to_be_focused()
    shot(page, "account-06-login-code")
    page.get_by_test_id("login-otp").fill("000000")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("wrong", timeout=LIVE)
    shot(page, "account-07-login-wrong-code")
    # The confirmation used the current time-step; the next one is accepted already.
    page.get_by_test_id("login-otp").fill(pyotp.TOTP(secret).at(int(time.time()) + 30))
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-menu")).to_be_visible(timeout=LIVE)
    page.goto(f"{live_server.base_url}/account")
    expect(page.get_by_test_id("sessions-table")).to_contain_text("2FA", timeout=LIVE)
    shot(page, "account-08-signed-in-with-code")
