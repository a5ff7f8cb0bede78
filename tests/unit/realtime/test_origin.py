"""The WebSocket's Origin check and subscription topics."""

from __future__ import annotations

import pytest

from dockyard.realtime.service import _Topics, origin_allowed

ALLOWED = ["https://dash.example.com", "http://localhost:5173"]


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        (None, "dockyard.local:8700", True),  # not a browser
        ("http://dockyard.local:8700", "dockyard.local:8700", True),
        ("http://DOCKYARD.local:8700", "dockyard.local:8700", True),
        ("https://dockyard.local", "dockyard.local", True),
        ("https://dockyard.local", "dockyard.local:443", True),
        ("http://dockyard.local:80", "dockyard.local", True),
        ("http://dockyard.local:8701", "dockyard.local:8700", False),
        ("http://evil.example", "dockyard.local:8700", False),
        ("http://dockyard.local.evil.example", "dockyard.local", False),
        ("null", "dockyard.local", False),
        ("file://", "dockyard.local", False),
        ("not a url", "dockyard.local", False),
        ("http://dockyard.local:99999", "dockyard.local", False),
        ("http://dockyard.local", None, False),
        ("https://dash.example.com", "10.0.0.5:8700", True),
        ("https://dash.example.com:443", "10.0.0.5:8700", True),
        ("http://dash.example.com", "10.0.0.5:8700", False),  # scheme differs
        ("http://localhost:5173", "127.0.0.1:8700", True),
    ],
)
def test_origin_allowed(origin: str | None, host: str | None, ok: bool) -> None:
    assert origin_allowed(origin, host, ALLOWED) is ok


def test_topics() -> None:
    everything = _Topics(None)
    assert everything.matches("job.progress")
    nothing = _Topics([])
    assert not nothing.matches("job.progress")
    some = _Topics(["service.status", "job.", "audit.*"])
    assert some.matches("service.status")
    assert not some.matches("service.deleted")
    assert some.matches("job.progress")
    assert some.matches("audit.created")
    assert not some.matches("container.state")
