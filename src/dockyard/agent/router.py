"""The agents' endpoints: enrollment (public, rate limited), the agent WebSocket, and the
relay other server replicas use to reach an agent connected to this one.

None is reached by a user: `/enroll` is authenticated by the one-time enrollment token
it carries, `/ws` by the node credential in the first message (see docs/agent-protocol.md),
`/relay/{node_id}` by an HMAC of the installation's secret key (`dockyard.agent.relay`).
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, WebSocket

from dockyard.auth.rate_limit import rate_limited_error
from dockyard.deps import MetaDep, RuntimeDep, SessionDep
from dockyard.kit.request_meta import client_ip
from dockyard.nodes import service as nodes_service
from dockyard.nodes.schemas import EnrollRequest, EnrollResponse

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/agent", tags=["agent"])


@router.post("/enroll", response_model=EnrollResponse)
async def enroll(
    body: EnrollRequest, runtime: RuntimeDep, session: SessionDep, meta: MetaDep
) -> EnrollResponse:
    """Trade a node's one-time enrollment token for its long-lived credential (agents only;
    rate limited per client address like sign-in)."""
    wait = await runtime.auth.login_limiter.hit("enroll:" + (meta.ip or "unknown"))
    if wait:
        log.warning("agent_enroll_rate_limited", ip=meta.ip)
        raise rate_limited_error("Too many enrollment attempts. Try again shortly.", wait)
    return await nodes_service.enroll(runtime, session, body, meta)


@router.websocket("/ws")
async def agent_socket(websocket: WebSocket) -> None:
    """One agent's connection: the first message (hello) carries its node credential."""
    runtime = websocket.app.state.runtime
    ip = client_ip(websocket, runtime.settings.trusted_proxies)
    await runtime.agents.serve(websocket, ip)


@router.websocket("/relay/{node_id}")
async def agent_relay(websocket: WebSocket, node_id: int) -> None:
    """A peer replica's tunnel connection to node `node_id`'s agent, if it is connected here."""
    await websocket.app.state.runtime.agents.serve_relay(websocket, node_id)
