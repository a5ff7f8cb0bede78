"""Engine facts as Dockyard shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class EngineFacts(BaseModel):
    """What `docker info`/`docker version` say, or why the engine could not be asked."""

    reachable: bool
    error: str | None = None
    name: str | None = None
    server_version: str | None = None
    api_version: str | None = None
    os: str | None = None
    os_type: str | None = None
    kernel_version: str | None = None
    architecture: str | None = None
    cpus: int | None = None
    memory_bytes: int | None = None
    containers: int | None = None
    containers_running: int | None = None
    containers_paused: int | None = None
    containers_stopped: int | None = None
    images: int | None = None
    docker_root_dir: str | None = None
    storage_driver: str | None = None
    checked_at: datetime
