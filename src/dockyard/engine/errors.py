"""Engine failures translated into client-facing errors."""

from __future__ import annotations

from dockyard.kit.errors import DockyardError


class EngineUnavailableError(DockyardError):
    """The engine cannot be reached (socket missing, daemon down, timeout)."""

    status_code = 503
    code = "engine_unavailable"


class EngineNotFoundError(DockyardError):
    status_code = 404
    code = "engine_object_not_found"


class EngineRequestError(DockyardError):
    """The engine answered with an error."""

    status_code = 502
    code = "engine_error"


class NodeOfflineError(EngineUnavailableError):
    """An agent node's agent is not connected: its engine cannot be reached now."""

    code = "node_offline"
