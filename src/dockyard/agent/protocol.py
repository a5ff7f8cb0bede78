"""Agent protocol v1: every control message, the binary data frame and the constants.

Shared by the server (hub) and the agent. Text frames carry JSON control messages, a
Pydantic discriminated union on `type`; every message carries `"v": 1`. Binary frames
carry stream data: a 4-byte big-endian stream id, then the payload (at most `MAX_CHUNK`).

This module imports only the standard library, Pydantic and `dockyard.metrics.samples`
so the agent stays lean. See docs/agent-protocol.md.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from dockyard.metrics.samples import MetricsSample

PROTOCOL_VERSION = 1
WS_PATH = "/api/v1/agent/ws"
ENROLL_PATH = "/api/v1/agent/enroll"

MAX_FRAME_BYTES = 1024 * 1024  # default; the server's setting wins (welcome.max_frame_bytes)
STREAM_WINDOW = 256 * 1024  # unacknowledged bytes per stream direction
MAX_CHUNK = 64 * 1024  # payload of one binary frame
HELLO_TIMEOUT_S = 10.0
HEARTBEAT_S = 5.0  # default; the server's setting wins (welcome.heartbeat_s)
MAX_EVENTS_PER_MESSAGE = 200
MAX_UNACKED_EVENTS = 10_000
OP_MEMORY = 10_000  # op keys the agent remembers to refuse a repeated one
MAX_STREAM_ID = 0xFFFFFFFF

# WebSocket close codes.
CLOSE_NORMAL = 1000  # also "replaced by a newer connection"
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002  # invalid JSON, unknown type, schema violation, bad frame
CLOSE_POLICY_VIOLATION = 1008  # invalid/revoked credential, authentication timeout (final)
CLOSE_TOO_BIG = 1009  # a frame larger than max_frame_bytes
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012  # the server is going away: reconnect now (to another replica)

# Close reasons the server uses with 1008 / 1000.
REASON_INVALID_CREDENTIAL = "invalid credential"
REASON_REVOKED = "credential revoked"
REASON_AUTH_TIMEOUT = "authentication timeout"
REASON_REPLACED = "replaced by a newer connection"

_DATA_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame that breaks the protocol; the peer closes the socket with `close_code`."""

    def __init__(self, message: str, *, close_code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.close_code = close_code


StreamId = Annotated[int, Field(ge=1, le=MAX_STREAM_ID)]
Seq = Annotated[int, Field(ge=0)]


class _Msg(BaseModel):
    # Unknown fields are ignored so a newer peer can add optional fields within v1.
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1


# --- handshake -----------------------------------------------------------------------------


class Hello(_Msg):
    """agent -> server, first message, within `HELLO_TIMEOUT_S`."""

    type: Literal["hello"] = "hello"
    credential: str = Field(min_length=1, max_length=512)
    agent_version: str = Field(max_length=64)
    docker_host: str = Field(max_length=1024)
    hostname: str = Field(max_length=255)
    protocol: int = PROTOCOL_VERSION
    last_acked_seq: Seq = 0


class Welcome(_Msg):
    """server -> agent, answers a good hello."""

    type: Literal["welcome"] = "welcome"
    node_id: int
    heartbeat_s: float = Field(default=HEARTBEAT_S, gt=0)
    metrics_interval_s: float = Field(default=10.0, gt=0)
    max_frame_bytes: int = Field(default=MAX_FRAME_BYTES, ge=MAX_CHUNK + 4)
    acked_seq: Seq = 0


class Heartbeat(_Msg):
    """agent -> server every `heartbeat_s`."""

    type: Literal["heartbeat"] = "heartbeat"
    sent_at: datetime


# --- streams ---------------------------------------------------------------------------------


class StreamOpen(_Msg):
    """server -> agent: open a byte stream to the agent's engine."""

    type: Literal["stream_open"] = "stream_open"
    id: StreamId
    op: str = Field(min_length=1, max_length=64, description="Idempotency key (a UUID).")


class StreamOpened(_Msg):
    type: Literal["stream_opened"] = "stream_opened"
    id: StreamId


class StreamError(_Msg):
    """The stream could not be opened (engine down, repeated op, ...)."""

    type: Literal["stream_error"] = "stream_error"
    id: StreamId
    message: str = Field(max_length=2000)


class StreamCredit(_Msg):
    """The receiver consumed `bytes` more of the stream: the sender may send that many more."""

    type: Literal["stream_credit"] = "stream_credit"
    id: StreamId
    bytes: int = Field(ge=1, le=MAX_STREAM_ID)


class StreamClose(_Msg):
    """Either side: the stream is over, both directions."""

    type: Literal["stream_close"] = "stream_close"
    id: StreamId
    reason: str | None = Field(default=None, max_length=2000)


# --- events, state, metrics ------------------------------------------------------------------


class EventItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: Annotated[int, Field(ge=1)]
    event: dict[str, Any]


class Events(_Msg):
    """agent -> server: engine events, numbered, in seq order."""

    type: Literal["events"] = "events"
    items: list[EventItem] = Field(max_length=MAX_EVENTS_PER_MESSAGE)


class Ack(_Msg):
    """server -> agent: every event up to `seq` is applied."""

    type: Literal["ack"] = "ack"
    seq: Seq


class State(_Msg):
    """agent -> server after every (re)connect: `GET /containers/json?all=1` items."""

    type: Literal["state"] = "state"
    containers: list[dict[str, Any]]


class Metrics(_Msg):
    type: Literal["metrics"] = "metrics"
    sample: MetricsSample


# --- credentials -------------------------------------------------------------------------------


class Rotate(_Msg):
    """server -> agent: store this new credential (atomically) and answer `rotated`."""

    type: Literal["rotate"] = "rotate"
    request_id: str = Field(min_length=1, max_length=64)
    credential: str = Field(min_length=1, max_length=512)


class Rotated(_Msg):
    type: Literal["rotated"] = "rotated"
    request_id: str = Field(min_length=1, max_length=64)


# --- unions ------------------------------------------------------------------------------------

AgentMessage = Annotated[
    Hello
    | Heartbeat
    | StreamOpened
    | StreamError
    | StreamCredit
    | StreamClose
    | Events
    | State
    | Metrics
    | Rotated,
    Field(discriminator="type"),
]
"""Messages an agent sends (the server parses these)."""

ServerMessage = Annotated[
    Welcome | StreamOpen | StreamError | StreamCredit | StreamClose | Ack | Rotate,
    Field(discriminator="type"),
]
"""Messages the server sends (the agent parses these)."""

Message = Annotated[
    Hello
    | Welcome
    | Heartbeat
    | StreamOpen
    | StreamOpened
    | StreamError
    | StreamCredit
    | StreamClose
    | Events
    | Ack
    | State
    | Metrics
    | Rotate
    | Rotated,
    Field(discriminator="type"),
]
"""Every v1 message."""

StreamMessage = StreamOpen | StreamOpened | StreamError | StreamCredit | StreamClose
STREAM_MESSAGE_TYPES = (StreamOpen, StreamOpened, StreamError, StreamCredit, StreamClose)

_MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)
_AGENT_MESSAGE: TypeAdapter[AgentMessage] = TypeAdapter(AgentMessage)
_SERVER_MESSAGE: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def _load(text: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("invalid JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError("a message must be a JSON object")
    if data.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {data.get('v')!r}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("message without a type")
    return data


def _validate(adapter: TypeAdapter[Any], data: dict[str, Any]) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0].get("type") == "union_tag_invalid":
            raise ProtocolError(f"unknown message type {data.get('type')!r}") from exc
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        loc = list(first.get("loc", ()))
        if loc and loc[0] == data.get("type"):
            loc = loc[1:]  # the union's tag
        where = ".".join(str(part) for part in loc) or "message"

        raise ProtocolError(
            f"invalid {data.get('type')} message: {where}: {first.get('msg', 'invalid')}"
        ) from exc


def parse_message(text: str | bytes) -> Message:
    """Any v1 message; `ProtocolError` for bad JSON, an unknown type or a schema violation."""
    return _validate(_MESSAGE, _load(text))  # type: ignore[no-any-return]


def _parse(adapter: TypeAdapter[Any], text: str | bytes) -> Any:
    """Validate straight from JSON (half the cost of loading first: this parses every
    agent's 100-container metrics frames); only a message that fails is parsed again
    step by step, for the precise `ProtocolError`."""
    try:
        return adapter.validate_json(text)
    except (ValidationError, ValueError):
        return _validate(adapter, _load(text))


def parse_agent_message(text: str | bytes) -> AgentMessage:
    """A message the agent may send (the server's parser)."""
    return _parse(_AGENT_MESSAGE, text)  # type: ignore[no-any-return]


def parse_server_message(text: str | bytes) -> ServerMessage:
    """A message the server may send (the agent's parser)."""
    return _parse(_SERVER_MESSAGE, text)  # type: ignore[no-any-return]


def encode(msg: BaseModel) -> str:
    """The JSON text frame for `msg`."""
    return msg.model_dump_json()


def pack_data(stream_id: int, payload: bytes) -> bytes:
    """A binary data frame: 4-byte big-endian stream id, then the payload."""
    if not 1 <= stream_id <= MAX_STREAM_ID:
        raise ValueError(f"stream id out of range: {stream_id}")
    if len(payload) > MAX_CHUNK:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_CHUNK}")
    return _DATA_HEADER.pack(stream_id) + payload


def unpack_data(frame: bytes) -> tuple[int, bytes]:
    """`(stream_id, payload)` of a binary frame; `ProtocolError` when malformed."""
    if len(frame) < _DATA_HEADER.size:
        raise ProtocolError("binary frame shorter than its 4-byte stream id")
    if len(frame) - _DATA_HEADER.size > MAX_CHUNK:
        raise ProtocolError(f"binary frame payload exceeds {MAX_CHUNK} bytes")
    (stream_id,) = _DATA_HEADER.unpack_from(frame)
    if stream_id == 0:
        raise ProtocolError("stream id 0 is invalid")
    return stream_id, bytes(frame[_DATA_HEADER.size :])
