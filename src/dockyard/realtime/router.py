"""HTTP routes of the realtime channel: the ticket and the WebSocket itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket
from starlette.requests import HTTPConnection

from dockyard.auth.service import Principal
from dockyard.deps import AUTHENTICATED, require
from dockyard.kit.errors import ServiceUnavailableError
from dockyard.realtime.schemas import TicketOut
from dockyard.realtime.service import RealtimeHub

router = APIRouter(prefix="/api/v1", tags=["realtime"])


def get_hub(conn: HTTPConnection) -> RealtimeHub:
    """The hub of this app: `app.state.realtime`, else the runtime's `realtime`."""
    state = conn.app.state
    hub = getattr(state, "realtime", None) or getattr(
        getattr(state, "runtime", None), "realtime", None
    )
    if not isinstance(hub, RealtimeHub):
        raise ServiceUnavailableError("Live updates are not available.", code="realtime_off")
    return hub


HubDep = Annotated[RealtimeHub, Depends(get_hub)]


@router.post("/realtime/ticket", response_model=TicketOut)
async def issue_ticket(
    principal: Annotated[Principal, Depends(require(AUTHENTICATED))], hub: HubDep
) -> TicketOut:
    """A single-use ticket (valid 30 s) for `GET /api/v1/ws?ticket=...`.

    Keeps the access token out of the WebSocket URL, which proxies and browsers log.
    """
    return hub.issue_ticket(principal)


@router.websocket("/ws")
async def websocket(ws: WebSocket, hub: HubDep) -> None:
    """Live events and logs; authenticate with `?ticket=` or a first `auth` message."""
    await hub.serve(ws)
