"""Path normalization and names of the container file browser."""

from __future__ import annotations

import pytest

from dockyard.containers.files import _decode_stat, check_name, normalize_path
from dockyard.kit.errors import ValidationFailedError


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("/etc", "/etc"),
        ("etc/", "/etc"),
        ("/etc/../../..", "/"),
        ("/tmp/../etc/./hostname", "/etc/hostname"),
        ("//etc//passwd", "/etc/passwd"),
        ("../../../etc/shadow", "/etc/shadow"),
        ("/", "/"),
    ],
)
def test_paths_are_normalized_lexically(raw: str, clean: str) -> None:
    assert normalize_path(raw) == clean


@pytest.mark.parametrize("raw", ["", "/etc/host\x00name", "/tmp/a\nb", "/x\x7f", "/" + "a" * 5000])
def test_bad_paths_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailedError) as refused:
        normalize_path(raw)
    assert refused.value.code == "invalid_path"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "a\x00", "x" * 256])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationFailedError):
        check_name(name)


def test_stat_header_kinds() -> None:
    import base64
    import json

    def header(mode: int, link: str = "") -> str:
        raw = {"name": "x", "size": 3, "mode": mode, "mtime": "2024-01-01T00:00:00.123456789Z"}
        raw["linkTarget"] = link
        return base64.b64encode(json.dumps(raw).encode()).decode()

    assert _decode_stat(header(0o644)).kind == "file"
    assert _decode_stat(header((1 << 31) | 0o755)).kind == "dir"
    link = _decode_stat(header((1 << 27) | 0o777, "/etc/shadow"))
    assert (link.kind, link.link_target) == ("symlink", "/etc/shadow")
    assert _decode_stat(header((1 << 25) | 0o644)).kind == "other"  # FIFO
    assert _decode_stat(header((1 << 26) | (1 << 21) | 0o600)).kind == "other"  # char device
    assert _decode_stat(header(0o644)).mtime is not None
