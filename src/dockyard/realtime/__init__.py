"""The browser's live channel: one authenticated WebSocket for events and logs."""
