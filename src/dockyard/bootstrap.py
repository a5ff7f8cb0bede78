"""First-run setup: the chain head, the local node, and the first admin."""

from __future__ import annotations

import sys

import structlog
from sqlalchemy import select

from dockyard.audit.chain import GENESIS_HASH
from dockyard.audit.models import AuditChainHead
from dockyard.audit.service import Actor
from dockyard.kit.db import Database, retry_on_conflict
from dockyard.nodes.service import ensure_local_node
from dockyard.settings import Settings
from dockyard.users import repository as users
from dockyard.users.service import create_user, generate_password

log = structlog.get_logger(__name__)
DEFAULT_ADMIN_EMAIL = "admin@localhost"


def _announce_password(email: str, password: str) -> None:
    # Printed straight to the console, never through the log pipeline (logs may be shipped).
    banner = "=" * 64
    sys.stderr.write(
        f"\n{banner}\n Dockyard first run: an admin account was created.\n"
        f"   email:    {email}\n   password: {password}\n"
        f" This password is shown once and is not stored in clear.\n{banner}\n\n"
    )
    sys.stderr.flush()


async def bootstrap(db: Database, settings: Settings, *, first_admin: bool = True) -> None:
    """Idempotent: safe on every start and from several processes.

    `first_admin=False` (CLI commands) skips creating the first-run admin, so an operator
    who creates their own account first does not also get `admin@localhost`.
    """
    # Two processes starting on a fresh database at once (a worker and a beat) both find
    # nothing and both insert: the slower one's commit fails on a key and, tried again,
    # finds what the other created.
    announce = await retry_on_conflict(
        lambda: _bootstrap_once(db, settings, first_admin=first_admin)
    )
    if announce:
        _announce_password(*announce)


async def _bootstrap_once(
    db: Database, settings: Settings, *, first_admin: bool
) -> tuple[str, str] | None:
    async with db.session() as session:
        head = (
            await session.execute(select(AuditChainHead).where(AuditChainHead.id == 1))
        ).scalar_one_or_none()
        if head is None:
            session.add(AuditChainHead(id=1, last_id=0, last_hash=GENESIS_HASH))
            await session.flush()
        await ensure_local_node(session, settings.resolved_docker_host)
        announce: tuple[str, str] | None = None
        if first_admin and await users.count(session) == 0:
            email = settings.admin_email or DEFAULT_ADMIN_EMAIL
            if settings.admin_password is not None:
                password = settings.admin_password.get_secret_value()
            else:
                password = generate_password()
                announce = (email, password)
            await create_user(
                session,
                email=email,
                password=password,
                role="admin",
                actor=Actor.system("first-run"),
                display_name="Administrator",
            )
            log.info("first_run_admin_created", email=email)
        await session.commit()
    return announce
