"""Container terminal (exec over WebSocket) and file browser (Docker archive API)."""
