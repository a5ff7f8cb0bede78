"""Shapes of the realtime API: the ticket response and the client's WebSocket messages."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ContainerRef = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$", max_length=255)
]
Topic = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TicketOut(BaseModel):
    """A single-use ticket for `GET /api/v1/ws?ticket=...`."""

    ticket: str
    expires_in: int = Field(description="Seconds the ticket stays valid.")


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AuthMessage(_Message):
    """First message when no ticket was given: `{"type": "auth", "token": "<access token>"}`."""

    type: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class SubscribeMessage(_Message):
    """Only forward these event types; `job.` or `job.*` is a prefix, null means all."""

    type: Literal["subscribe"]
    topics: list[Topic] | None = Field(default=None, max_length=50)


class LogsFollowMessage(_Message):
    """Start a live, multiplexed log stream of some containers of one node."""

    type: Literal["logs.follow"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    node_id: int
    container_ids: list[ContainerRef] = Field(min_length=1, max_length=10)
    tail: int = Field(default=100, ge=0, le=5000)


class LogsStopMessage(_Message):
    """Stop a log stream started with `logs.follow`."""

    type: Literal["logs.stop"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
