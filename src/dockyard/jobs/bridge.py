"""Moved: the event bridge across processes is `dockyard.kit.bridge.EventBridge`.

It forwards every event of every process (server, worker, beat) over Redis pub/sub or
PostgreSQL LISTEN/NOTIFY; this module keeps the old names importable.
"""

from __future__ import annotations

from dockyard.kit.bridge import EventBridge, RedisTransport, make_bridge

CHANNEL = "dockyard:events"


def channel_name(instance_id: str) -> str:
    """Per installation (pub/sub ignores Redis database numbers)."""
    return f"{CHANNEL}:{instance_id}"


__all__ = ["CHANNEL", "EventBridge", "RedisTransport", "channel_name", "make_bridge"]
