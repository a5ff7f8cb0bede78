"""deploy/systemd units: hardened, consistent, and accepted by `systemd-analyze verify`."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
UNITS = REPO / "deploy/systemd"
EXECUTABLE = "/opt/dockyard/bin/dockyard"
COMMANDS = {
    "dockyard.service": "serve",
    "dockyard-worker.service": "worker",
    "dockyard-beat.service": "beat",
}
HARDENING = {
    "User": "dockyard",
    "Group": "dockyard",
    "SupplementaryGroups": "docker",
    "EnvironmentFile": "/etc/dockyard/dockyard.env",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/dockyard",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "KillSignal": "SIGTERM",
    "TimeoutStopSec": "45",
    "Restart": "on-failure",
    "CapabilityBoundingSet": "",
}


def parse(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_the_three_units_exist() -> None:
    assert {p.name for p in UNITS.glob("*.service")} == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unit_is_hardened_and_runs_its_command(name: str) -> None:
    unit = parse(name)
    service = unit["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{name}: {key}={service.get(key)!r}, want {value!r}"
    assert service["ExecStart"] == f"{EXECUTABLE} {COMMANDS[name]}"
    assert "DOCKYARD_DATA_DIR=/var/lib/dockyard" in service["Environment"]
    assert service["StateDirectory"] == "dockyard"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # The stop timeout leaves the default shutdown grace (30 s) room to finish jobs.
    from dockyard.settings import Settings

    assert int(service["TimeoutStopSec"]) > Settings().shutdown_grace_s
    if name == "dockyard.service":
        assert service["ExecStartPre"] == f"{EXECUTABLE} migrate"
    else:
        assert "dockyard.service" in unit["Unit"]["After"]


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    """`systemd-analyze verify` (systemd's own parser) with no warning at all.

    It checks that ExecStart exists, so the units are verified with the path of this
    virtualenv's `dockyard` instead of /opt/dockyard/bin/dockyard.
    """
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (package systemd)", pytrace=False)
    dockyard = shutil.which("dockyard", path=str(Path(sys.executable).parent))
    assert dockyard, "the dockyard console script is not installed: run `uv sync`"
    for name in COMMANDS:
        text = (UNITS / name).read_text().replace(EXECUTABLE, dockyard)
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in sorted(COMMANDS))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output == "", output  # unknown keys are only warnings: none allowed


def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    """The check above can fail: a misspelt directive is reported."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (package systemd)", pytrace=False)
    dockyard = shutil.which("dockyard", path=str(Path(sys.executable).parent))
    assert dockyard
    text = (UNITS / "dockyard.service").read_text().replace(EXECUTABLE, dockyard)
    (tmp_path / "dockyard.service").write_text(
        text.replace("NoNewPrivileges=yes", "NoNewPrivilegez=yes")
    )
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "dockyard.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "NoNewPrivilegez" in result.stdout + result.stderr
