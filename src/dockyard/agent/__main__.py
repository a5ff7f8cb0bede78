"""`python -m dockyard.agent`: the agent's lean entry point.

`dockyard agent` re-executes this module so the agent process carries none of the CLI's
imports (Typer, httpx, the API client). Options as `dockyard agent --help`; the token may
come from `DOCKYARD_AGENT_TOKEN` so it stays out of the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from dockyard.agent.client import AgentOptions, run_agent

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_DATA_DIR = "/var/lib/dockyard-agent"


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="dockyard agent",
        description="Run the Dockyard agent: it dials out to the server and serves this "
        "host's Docker engine. Exit codes: 0 stopped, 1 failure, 2 bad configuration, "
        "3 rejected by the server (not retried).",
    )
    parser.add_argument(
        "--server",
        action="append",
        help="Server URL; repeat it (or separate by commas) for several replicas, tried in "
        "turn. Default: DOCKYARD_AGENT_SERVER.",
    )
    parser.add_argument("--token", default=env("DOCKYARD_AGENT_TOKEN"))
    parser.add_argument(
        "--docker-host", default=env("DOCKYARD_AGENT_DOCKER_HOST", DEFAULT_DOCKER_HOST)
    )
    parser.add_argument("--data-dir", default=env("DOCKYARD_AGENT_DATA_DIR", DEFAULT_DATA_DIR))
    parser.add_argument("--allowed-bind-root", action="append", default=[])
    parser.add_argument("--allow-privileged", action="store_true")
    parser.add_argument("--allow-build", action="store_true")
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = AgentOptions(
        data_dir=Path(args.data_dir),
        server=",".join(args.server) if args.server else os.environ.get("DOCKYARD_AGENT_SERVER"),
        token=args.token,
        docker_host=args.docker_host,
        allowed_bind_roots=list(args.allowed_bind_root),
        allow_privileged=args.allow_privileged,
        allow_build=args.allow_build,
    )
    return asyncio.run(run_agent(options))


if __name__ == "__main__":
    sys.exit(main())
