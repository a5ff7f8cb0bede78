"""HTTP routes for personal API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, SessionDep, require
from dockyard.kit.clock import utcnow
from dockyard.tokens import service
from dockyard.tokens.schemas import TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

ManageTokens = Annotated[Principal, Depends(require("tokens:manage"))]


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(
    body: TokenCreate, principal: ManageTokens, session: SessionDep, meta: MetaDep
) -> TokenCreated:
    """Create a personal API token; the token is in this answer only."""
    row, token = await service.create_token(session, principal, body, meta)
    await session.commit()
    return TokenCreated(**service.token_out(row).model_dump(), token=token)


@router.get("", response_model=list[TokenOut])
async def list_tokens(principal: ManageTokens, session: ReadSessionDep) -> list[TokenOut]:
    """My tokens that were not revoked (expired ones are flagged)."""
    now = utcnow()
    tokens = await service.list_tokens(session, principal.user.id)
    return [service.token_out(t, now) for t in tokens]


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def revoke_token(
    token_id: int, principal: ManageTokens, session: SessionDep, meta: MetaDep
) -> Response:
    """Revoke one of my tokens: it stops working at once."""
    await service.revoke_token(session, principal, token_id, meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
