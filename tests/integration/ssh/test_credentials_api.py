"""SSH credentials API on SQLite and PostgreSQL: validation with asyncssh (a wrong passphrase
is a 422), secrets encrypted at rest and never in a response or the audit log, assignment to
hosts, deletion refused while in use, permissions."""

from __future__ import annotations

import json
from typing import Any

import asyncssh
import pytest
from sqlalchemy import select

from dockyard.ssh.models import SshCredential
from tests.conftest import LiveApp, add_user, assert_error, audit_rows, unique_email
from tests.integration.ssh.helpers import ssh_env, unique_host

PASSPHRASE = "correct horse battery"


@pytest.fixture
async def admin(api: LiveApp) -> LiveApp:
    api.client.headers.update(api.bearer(await api.token()))
    return api


def pem_encrypted_key() -> tuple[str, asyncssh.SSHKey]:
    key = asyncssh.generate_private_key("ssh-rsa", 2048)
    return key.export_private_key("pkcs8-pem", passphrase=PASSPHRASE).decode(), key


async def create(api: LiveApp, **fields: Any) -> Any:
    body = {"name": f"c-{unique_host()}", "username": "deploy", "auth_type": "key", **fields}
    return await api.client.post("/api/v1/ssh-credentials", json=body)


async def test_key_and_password_credentials_never_leak(admin: LiveApp) -> None:
    env = ssh_env()
    key_text = env.key_text
    response = await create(admin, name="test-key", private_key=key_text)
    assert response.status_code == 201, response.text
    body = response.json()
    public = asyncssh.read_public_key(env.key_path + ".pub")
    assert body["has_secret"] is True
    assert body["key_type"] == "ssh-ed25519"
    assert body["key_fingerprint"] == public.get_fingerprint("sha256")
    assert body["public_key"].split()[:2] == public.export_public_key().decode().split()[:2]
    assert "private_key" not in body
    assert "PRIVATE" not in response.text

    encrypted, key = pem_encrypted_key()
    wrong = await create(admin, private_key=encrypted, passphrase="wrong passphrase")
    error = assert_error(wrong, 422, "validation_error")
    assert error["details"]["errors"][0]["path"] == "body.passphrase"
    assert "passphrase" in error["message"]
    missing = await create(admin, private_key=encrypted)
    assert assert_error(missing, 422)["details"]["errors"][0]["path"] == "body.passphrase"
    ok = await create(admin, private_key=encrypted, passphrase=PASSPHRASE)
    assert ok.status_code == 201, ok.text
    assert ok.json()["key_fingerprint"] == key.get_fingerprint("sha256")

    garbage = await create(admin, private_key="-----BEGIN NONSENSE-----\nabc\n")
    assert assert_error(garbage, 422)["details"]["errors"][0]["path"] == "body.private_key"
    no_key = await create(admin)
    assert assert_error(no_key, 422)["details"]["errors"][0]["path"] == "body.private_key"
    no_pw = await create(admin, auth_type="password")
    assert assert_error(no_pw, 422)["details"]["errors"][0]["path"] == "body.password"
    bad_user = await create(admin, username="bad user;", private_key=key_text)
    assert bad_user.status_code == 422
    dup = await create(admin, name="test-key", private_key=key_text)
    assert_error(dup, 409, "ssh_credential_exists")

    pw = await create(admin, name="pw", auth_type="password", password="s3cret-pw-value")
    assert pw.status_code == 201, pw.text
    assert pw.json()["key_fingerprint"] is None
    assert pw.json()["has_secret"] is True

    # Change the password: the response and audit say only that the secret changed.
    patched = await admin.client.patch(
        f"/api/v1/ssh-credentials/{pw.json()['id']}", json={"password": "another-pw-value"}
    )
    assert patched.status_code == 200, patched.text
    switch = await admin.client.patch(
        f"/api/v1/ssh-credentials/{pw.json()['id']}", json={"auth_type": "key"}
    )
    assert assert_error(switch, 422)["details"]["errors"][0]["path"] == "body.private_key"

    listing = await admin.client.get("/api/v1/ssh-credentials")
    assert listing.status_code == 200
    assert {c["name"] for c in listing.json()["items"]} >= {"test-key", "pw"}
    everything = listing.text + json.dumps(
        [row.details for row in await audit_rows(admin)], default=str
    )
    for secret in (
        "s3cret-pw-value",
        "another-pw-value",
        PASSPHRASE,
        "PRIVATE KEY",
        key_text.splitlines()[1],
    ):
        assert secret not in everything, secret
    actions = [row.action for row in await audit_rows(admin, target_type="ssh_credential")]
    assert actions.count("ssh_credential.created") == 3
    assert "ssh_credential.updated" in actions

    # At rest: ciphertext only.
    async with admin.runtime.db.read_session() as session:
        stored = (await session.execute(select(SshCredential.secret_encrypted))).scalars().all()
    assert stored
    for text in stored:
        assert "PRIVATE" not in text
        assert "s3cret" not in text
        assert "another-pw" not in text


async def test_assignment_and_delete_in_use(admin: LiveApp) -> None:
    cred = (await create(admin, private_key=ssh_env().key_text)).json()
    host = (
        await admin.client.post(
            "/api/v1/hosts", json={"hostname": unique_host(), "address": "192.0.2.7"}
        )
    ).json()
    missing = await admin.client.put(
        f"/api/v1/hosts/{host['id']}/ssh-credential", json={"credential_id": 999999}
    )
    assert assert_error(missing, 422)["details"]["errors"][0]["path"] == "body.credential_id"
    assigned = await admin.client.put(
        f"/api/v1/hosts/{host['id']}/ssh-credential", json={"credential_id": cred["id"]}
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["credential"]["id"] == cred["id"]
    assert assigned.json()["credential"]["host_count"] == 1
    in_use = await admin.client.delete(f"/api/v1/ssh-credentials/{cred['id']}")
    assert_error(in_use, 409, "ssh_credential_in_use")
    rows = await audit_rows(admin, action="host.ssh_login.assigned")
    assert rows
    assert rows[-1].details["to"]["id"] == cred["id"]

    cleared = await admin.client.put(
        f"/api/v1/hosts/{host['id']}/ssh-credential", json={"credential_id": None}
    )
    assert cleared.json()["credential"] is None
    gone = await admin.client.delete(f"/api/v1/ssh-credentials/{cred['id']}")
    assert gone.status_code == 204
    assert (await admin.client.get(f"/api/v1/ssh-credentials/{cred['id']}")).status_code == 404

    # Deleting a host removes its assignment and trusted key with it.
    again = (await create(admin, private_key=ssh_env().key_text)).json()
    await admin.client.put(
        f"/api/v1/hosts/{host['id']}/ssh-credential", json={"credential_id": again["id"]}
    )
    assert (await admin.client.delete(f"/api/v1/hosts/{host['id']}")).status_code == 204
    assert (await admin.client.delete(f"/api/v1/ssh-credentials/{again['id']}")).status_code == 204


async def test_permissions(admin: LiveApp) -> None:
    email = unique_email("viewer")
    await add_user(admin, email, "viewer-password-123", role="viewer")
    viewer = admin.bearer(str((await admin.login(email, "viewer-password-123"))["access_token"]))
    denied = await admin.client.post(
        "/api/v1/ssh-credentials",
        json={"name": "x", "username": "u", "auth_type": "password", "password": "p"},
        headers=viewer,
    )
    assert_error(denied, 403)
    assert (await admin.client.get("/api/v1/ssh-credentials", headers=viewer)).status_code == 403
