"""`dockyard user create --role`, `user list` and `user set-role` as real subprocesses."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ADMIN_EMAIL, make_settings, running_app, unique_email
from tests.integration.test_cli import assert_clean_failure, cli_env, run_cli

PASSWORD = "Cli-Tenant-Password-1357"


async def test_user_roles_from_the_cli(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    env = cli_env(settings)
    async with running_app(settings) as api:  # the first run creates the admin
        email = unique_email("cli-op")
        result = await run_cli(
            "user",
            "create",
            email,
            "--role",
            "operator",
            "--password-stdin",
            env=env,
            stdin=PASSWORD,
        )
        assert result.returncode == 0, result
        assert "role operator" in result.stdout
        refused = await run_cli("user", "create", unique_email(), "--role", "boss", env=env)
        assert_clean_failure(refused, "Unknown role 'boss'")

        listed = await run_cli("user", "list", env=env)
        assert listed.returncode == 0, listed
        rows = {line.split("\t")[1]: line.split("\t") for line in listed.stdout.splitlines()}
        assert rows[email][2:] == ["operator", "active"]
        assert rows[ADMIN_EMAIL][2] == "admin"

        token = (await api.login(email, PASSWORD))["access_token"]
        me = await api.client.get("/api/v1/auth/me", headers=api.bearer(token))
        assert me.json()["role"] == "operator"

        changed = await run_cli("user", "set-role", email, "viewer", env=env)
        assert changed.returncode == 0, changed
        assert "is now viewer" in changed.stdout
        # Another process revoked the session; this server trusts its cache for at most
        # a few seconds, dropped here so the check is immediate.
        api.runtime.auth.forget_user(me.json()["id"])
        after = await api.client.get("/api/v1/auth/me", headers=api.bearer(token))
        assert after.status_code == 401

        last = await run_cli("user", "set-role", ADMIN_EMAIL, "viewer", env=env)
        assert_clean_failure(last, "last active admin")
        missing = await run_cli("user", "set-role", "nobody@example.com", "viewer", env=env)
        assert_clean_failure(missing, "no user with email")
