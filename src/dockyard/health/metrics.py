"""`GET /metrics`: Prometheus text format, read from current state at scrape time.

A custom collector turns one snapshot (state cache, database counts, health checks, alerts)
into metric families, so nothing is kept up to date between scrapes. Request counts and
latency come from a small ASGI middleware. Protected by `DOCKYARD_METRICS_TOKEN` (Bearer):
unset, the endpoint answers 404 (disabled); a missing or wrong token is a 401.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard import __version__
from dockyard.health.models import HealthCheck
from dockyard.jobs.models import Job
from dockyard.kit.errors import DockyardError, NotFoundError
from dockyard.nodes.models import Node
from dockyard.services.models import Service
from dockyard.services.status import compute_status

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

router = APIRouter(tags=["metrics"])

# ---------------------------------------------------------------- HTTP requests

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _HttpStats:
    """Requests by (method, status code) and a latency histogram, for this process."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.buckets = [0] * len(BUCKETS)
        self.total = 0
        self.sum_s = 0.0

    def observe(self, method: str, status: int, seconds: float) -> None:
        self.counts[(method, str(status))] += 1
        self.total += 1
        self.sum_s += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1


HTTP_STATS = _HttpStats()


class HttpMetricsMiddleware:
    """Counts API requests and their latency (WebSockets and the SPA's files excluded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            HTTP_STATS.observe(
                str(scope.get("method", "GET")), status["code"], time.perf_counter() - started
            )


# ---------------------------------------------------------------- the snapshot


@dataclass
class Snapshot:
    uptime_s: float = 0.0
    nodes: list[tuple[str, bool]] = field(default_factory=list)
    containers: Counter[tuple[str, str]] = field(default_factory=Counter)
    services: Counter[str] = field(default_factory=Counter)
    checks: list[tuple[int, str, str, str, float | None]] = field(default_factory=list)
    jobs: Counter[str] = field(default_factory=Counter)
    alerts_firing: int = 0


async def alerts_firing(runtime: Runtime) -> int:
    """Alerts firing now, from the alerts domain (`alerts.service.firing_counts`)."""
    from dockyard.alerts.service import firing_counts

    async with runtime.db.read_session() as session:
        return sum((await firing_counts(session)).values())


async def take_snapshot(runtime: Runtime) -> Snapshot:
    snap = Snapshot(uptime_s=time.time() - runtime.started_at.timestamp())
    async with runtime.db.read_session() as session:
        nodes = (await session.execute(select(Node.id, Node.name))).all()
        for node_id, name in nodes:
            snap.nodes.append((name, runtime.state.reachable(node_id) is True))
            cache = runtime.state.cache(node_id)
            for c in cache.containers() if cache is not None else ():
                snap.containers[(name, c.state)] += 1
        services = (await session.execute(select(Service))).scalars().all()
        views = runtime.service_views
        for service in services:
            containers = views.source.containers_for_service(service.node_id, service.id)
            expected = await views._expected_for(session, service)
            status, _ = compute_status(service, containers, expected)
            snap.services[str(status)] += 1
        checks = (
            await session.execute(
                select(
                    HealthCheck.id,
                    HealthCheck.name,
                    HealthCheck.kind,
                    HealthCheck.status,
                    HealthCheck.last_latency_ms,
                ).where(HealthCheck.enabled.is_(True))
            )
        ).all()
        snap.checks = [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4]) for r in checks]
        for job_status, count in (
            await session.execute(select(Job.status, func.count()).group_by(Job.status))
        ).all():
            snap.jobs[str(job_status)] = int(count)
    snap.alerts_firing = await alerts_firing(runtime)
    return snap


class SnapshotCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        info = GaugeMetricFamily("dockyard_info", "Dockyard server version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily(
            "dockyard_uptime_seconds", "Seconds since this server started.", value=snap.uptime_s
        )
        node_up = GaugeMetricFamily(
            "dockyard_node_up", "1 when the node's Docker engine is reachable.", labels=["node"]
        )
        for name, up in snap.nodes:
            node_up.add_metric([name], 1 if up else 0)
        yield node_up
        containers = GaugeMetricFamily(
            "dockyard_containers", "Containers per node and state.", labels=["node", "state"]
        )
        for (node, state), count in sorted(snap.containers.items()):
            containers.add_metric([node, state], count)
        yield containers
        services = GaugeMetricFamily("dockyard_services", "Services per status.", labels=["status"])
        for status, count in sorted(snap.services.items()):
            services.add_metric([status], count)
        yield services
        labels = ["check_id", "name", "kind"]
        check_up = GaugeMetricFamily(
            "dockyard_health_check_up",
            "1 when the check is up, 0 when down (checks never run are left out).",
            labels=labels,
        )
        latency = GaugeMetricFamily(
            "dockyard_health_check_latency_seconds",
            "Latency of the check's last run.",
            labels=labels,
        )
        for check_id, name, kind, status, latency_ms in snap.checks:
            values = [str(check_id), name, kind]
            if status in ("up", "down"):
                check_up.add_metric(values, 1 if status == "up" else 0)
            if latency_ms is not None:
                latency.add_metric(values, latency_ms / 1000)
        yield check_up
        yield latency
        jobs = GaugeMetricFamily("dockyard_jobs", "Jobs per status.", labels=["status"])
        for status, count in sorted(snap.jobs.items()):
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "dockyard_alerts_firing", "Alerts firing now.", value=snap.alerts_firing
        )
        requests = CounterMetricFamily(
            "dockyard_http_requests",
            "API requests served by this process.",
            labels=["method", "code"],
        )
        for (method, code), count in sorted(HTTP_STATS.counts.items()):
            requests.add_metric([method, code], count)
        yield requests
        cumulative: list[tuple[str, float]] = [
            (str(bound), float(n)) for bound, n in zip(BUCKETS, HTTP_STATS.buckets, strict=True)
        ]
        cumulative.append(("+Inf", float(HTTP_STATS.total)))
        yield HistogramMetricFamily(
            "dockyard_http_request_duration_seconds",
            "API request latency in this process.",
            buckets=cumulative,
            sum_value=HTTP_STATS.sum_s,
        )


def render(snap: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))
    return generate_latest(registry)


def _authorize(request: Request, runtime: Runtime) -> None:
    token = runtime.settings.metrics_token
    if token is None or not token.get_secret_value():
        raise NotFoundError("Not found.", code="not_found")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    ):
        raise DockyardError(
            "A valid metrics token is required.",
            code="unauthorized",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get(
    "/metrics",
    include_in_schema=False,  # Prometheus text, not part of the JSON API
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics. Needs `Authorization: Bearer <DOCKYARD_METRICS_TOKEN>`; disabled
    (404) while that setting is unset."""
    runtime: Any = request.app.state.runtime
    _authorize(request, runtime)
    body = render(await take_snapshot(runtime))
    return Response(
        body,
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
