"""`render_json` writes the same document `json.dumps` would, for any text the engine sends."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dockyard.engine.streams import LogLine
from dockyard.services.logs import ServiceLogLine, render_json

_line = st.builds(
    ServiceLogLine,
    st.text(min_size=1, max_size=20),
    st.builds(
        LogLine,
        st.sampled_from(["stdout", "stderr"]),
        st.one_of(st.none(), st.text(max_size=40)),
        st.text(max_size=200),
    ),
)


@given(st.lists(_line, max_size=50), st.booleans())
def test_render_json_matches_the_reference_encoding(
    lines: list[ServiceLogLine], timestamps: bool
) -> None:
    expected = {
        "lines": [
            {
                "container": name,
                "stream": line.stream,
                "ts": line.ts if timestamps else None,
                "message": line.message,
            }
            for name, line in lines
        ]
    }
    assert json.loads(render_json(lines, timestamps=timestamps)) == expected
