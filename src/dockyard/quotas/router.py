"""HTTP routes for quotas: a user's quota (admins) and my own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from dockyard.auth.service import Principal
from dockyard.deps import AUTHENTICATED, MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.quotas import service as quotas
from dockyard.quotas.schemas import QuotaOut, QuotaUpdate

router = APIRouter(prefix="/api/v1/users", tags=["quotas"])


@router.get("/me/quota", response_model=QuotaOut)
async def my_quota(
    principal: Annotated[Principal, Depends(require(AUTHENTICATED))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> QuotaOut:
    """My quota and what my services use (admins are not bound by it)."""
    return await quotas.quota_out(session, principal.user.id, runtime.settings)


@router.get("/{user_id}/quota", response_model=QuotaOut)
async def get_quota(
    user_id: int,
    _: Annotated[Principal, Depends(require("users:manage"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> QuotaOut:
    """A user's effective quota (own values, else the `DOCKYARD_QUOTA_*` defaults) and usage."""
    return await quotas.quota_out(session, user_id, runtime.settings)


@router.put("/{user_id}/quota", response_model=QuotaOut)
async def put_quota(
    user_id: int,
    body: QuotaUpdate,
    principal: Annotated[Principal, Depends(require("users:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> QuotaOut:
    """Set a user's own quota; a null field uses the default, all null removes it."""
    await quotas.set_quota(session, user_id, body, actor=principal.actor, meta=meta)
    await session.commit()
    return await quotas.quota_out(session, user_id, runtime.settings)
