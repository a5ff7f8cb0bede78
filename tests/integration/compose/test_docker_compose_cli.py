"""Debian's docker-compose 1.29 accepts every export and reads it as Dockyard does."""

from __future__ import annotations

import os
import posixpath
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.services.compose import (
    ComposeDefinition,
    compose_v1_incompatibilities,
    export_compose_yaml,
    load_compose_text,
    parse_definition,
)
from tests.unit.compose.fixture_files import FIXTURE_NAMES, load_fixture


def compose_config(
    docker_compose: str, text: str, folder: Path
) -> subprocess.CompletedProcess[str]:
    """`docker-compose -f FILE config` on `text`, with no compose or Docker variables set."""
    path = folder / "docker-compose.yml"
    path.write_text(text, encoding="utf-8")
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder)}
    return subprocess.run(
        [docker_compose, "-f", str(path), "config"],
        capture_output=True,
        text=True,
        cwd=folder,
        env=environment,
        timeout=60,
        check=False,
    )


def with_absolute_binds(defn: ComposeDefinition, folder: Path) -> ComposeDefinition:
    """The definition as docker-compose prints it: relative bind sources made absolute."""
    data: dict[str, Any] = defn.to_json()
    for service in data["services"].values():
        for mount in service.get("volumes", []):
            if mount["type"] == "bind" and not mount["source"].startswith("/"):
                mount["source"] = posixpath.normpath(posixpath.join(str(folder), mount["source"]))
    return parse_definition(data)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_docker_compose_accepts_every_export_and_reads_it_the_same(
    name: str, docker_compose: str, tmp_path: Path
) -> None:
    defn = load_fixture(name)
    result = compose_config(
        docker_compose, export_compose_yaml(defn, project_name="demo"), tmp_path
    )
    assert result.returncode == 0, f"docker-compose refused the export of {name}:\n{result.stderr}"
    # Its normalized output, read back by Dockyard, is the same definition.
    assert parse_definition(load_compose_text(result.stdout)) == with_absolute_binds(defn, tmp_path)


@pytest.mark.parametrize(
    ("service", "field", "refusal"),
    [
        (
            {"healthcheck": {"test": "true", "start_interval": "2s"}},
            "services.web.healthcheck.start_interval",
            "start_interval",
        ),
        (
            {"depends_on": {"db": {"condition": "service_started", "restart": True}}},
            "services.web.depends_on.db.restart",
            "unsupported option: 'restart'",
        ),
        (
            {"depends_on": {"db": {"condition": "service_started", "required": False}}},
            "services.web.depends_on.db.required",
            "unsupported option: 'required'",
        ),
        (
            {
                "volumes": [
                    {"type": "bind", "source": "/x", "target": "/x", "bind": {"selinux": "z"}}
                ]
            },
            "services.web.volumes.0.bind.selinux",
            "unsupported option: 'selinux'",
        ),
    ],
)
def test_fields_docker_compose_1_29_lacks_are_exactly_the_listed_ones(
    service: dict[str, Any], field: str, refusal: str, docker_compose: str, tmp_path: Path
) -> None:
    defn = parse_definition(
        {"services": {"web": {"image": "busybox", **service}, "db": {"image": "busybox"}}}
    )
    assert [issue.path for issue in compose_v1_incompatibilities(defn)] == [field]
    result = compose_config(docker_compose, export_compose_yaml(defn), tmp_path)
    assert result.returncode != 0
    assert refusal in result.stderr


def test_short_syntax_bind_options_are_read_alike(docker_compose: str, tmp_path: Path) -> None:
    defn = parse_definition(
        {"services": {"web": {"image": "busybox", "volumes": ["/a:/a:ro,rshared,z", "/b:/b:Z"]}}}
    )
    result = compose_config(docker_compose, export_compose_yaml(defn), tmp_path)
    assert result.returncode == 0, result.stderr
    assert parse_definition(load_compose_text(result.stdout)) == defn
