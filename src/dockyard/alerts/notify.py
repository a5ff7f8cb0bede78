"""Sending one notification to one channel: webhook (HMAC), Slack-compatible, email, in-app.

Webhooks never follow redirects (a redirect is a failure), so a channel reaches only the
URL it names. Each call raises `DeliveryError` with a short reason on failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import httpx

TIMEOUT_S = 10.0
USER_AGENT = "Dockyard-Alerts/1"


class DeliveryError(Exception):
    """A notification was not accepted (reason in the message; never holds secrets)."""


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex>` HMAC-SHA256 of the exact request body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"request failed: {type(exc).__name__}: {exc}"[:300]) from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code}")


async def send_webhook(
    config: dict[str, Any], secrets: dict[str, Any], payload: dict[str, Any]
) -> None:
    body = body_bytes(payload)
    headers = {str(k): str(v) for k, v in (secrets.get("headers") or {}).items()}
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Dockyard-Event": str(payload.get("status", "test")),
        }
    )
    if secrets.get("secret"):
        headers["X-Dockyard-Signature"] = sign(str(secrets["secret"]), body)
    await _post(str(config["url"]), body, headers)


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    status = str(payload.get("status", "test"))
    icon = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}.get(status, ":bell:")
    rule = (payload.get("rule") or {}).get("name", "")
    text = f"{icon} [{status.upper()}] {rule}: {payload.get('summary', '')}".strip()
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"started {payload.get('started_at', '')}"}
                ],
            },
        ],
    }


async def send_slack(secrets: dict[str, Any], payload: dict[str, Any]) -> None:
    body = json.dumps(slack_message(payload)).encode()
    await _post(
        str(secrets["url"]), body, {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    )


def email_message(config: dict[str, Any], payload: dict[str, Any]) -> EmailMessage:
    status = str(payload.get("status", "test"))
    rule = (payload.get("rule") or {}).get("name", "")
    message = EmailMessage()
    message["Subject"] = f"[Dockyard] [{status.upper()}] {rule}: {payload.get('summary', '')}"[:250]
    message["From"] = str(config["from"])
    message["To"] = ", ".join(config["to"])
    lines = [
        f"Status: {status}",
        f"Rule: {rule}",
        f"Summary: {payload.get('summary', '')}",
        f"Target: {json.dumps(payload.get('target', {}), default=str)}",
        f"Started: {payload.get('started_at', '')}",
    ]
    if payload.get("resolved_at"):
        lines.append(f"Resolved: {payload['resolved_at']}")
    message.set_content("\n".join(lines) + "\n")
    return message


def _smtp_send(config: dict[str, Any], secrets: dict[str, Any], message: EmailMessage) -> None:
    host, port, mode = str(config["host"]), int(config.get("port") or 25), config.get("tls")
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if mode == "tls":
        smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
    try:
        if mode == "starttls":
            smtp.starttls(context=context)
        if config.get("username"):
            smtp.login(str(config["username"]), str(secrets.get("password") or ""))
        smtp.send_message(message)
    finally:
        try:
            smtp.quit()
        except smtplib.SMTPException:
            smtp.close()


async def send_email(
    config: dict[str, Any], secrets: dict[str, Any], payload: dict[str, Any]
) -> None:
    message = email_message(config, payload)
    try:
        await asyncio.to_thread(_smtp_send, config, secrets, message)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"SMTP failed: {type(exc).__name__}: {exc}"[:300]) from exc


async def send(
    channel_type: str, config: dict[str, Any], secrets: dict[str, Any], payload: dict[str, Any]
) -> None:
    """Deliver `payload` (the webhook body) through a channel of `channel_type`."""
    if channel_type == "webhook":
        await send_webhook(config, secrets, payload)
    elif channel_type == "slack":
        await send_slack(secrets, payload)
    elif channel_type == "email":
        await send_email(config, secrets, payload)
    elif channel_type == "in_app":
        return  # the alert list and its live `alert.*` events are the in-app channel
    else:
        raise DeliveryError(f"unknown channel type {channel_type}")
