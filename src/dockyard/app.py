"""The FastAPI application: routers, error handlers, middleware, SPA, lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from dockyard import __version__
from dockyard.access.router import router as roles_router
from dockyard.agent.router import router as agent_router
from dockyard.alerts.router import dashboard_router
from dockyard.alerts.router import router as alerts_router
from dockyard.artifacts.router import router as artifacts_router
from dockyard.audit.router import router as audit_router
from dockyard.auth.router import router as auth_router
from dockyard.bootstrap import bootstrap
from dockyard.config.recorder import SnapshotRecorder
from dockyard.config.router import router as config_router
from dockyard.containers.router import router as containers_router
from dockyard.fleet.router import router as fleet_router
from dockyard.health.metrics import HttpMetricsMiddleware
from dockyard.health.metrics import router as metrics_router
from dockyard.health.router import router as health_router
from dockyard.health.runner import runs_in_server, start_runner
from dockyard.health.service import close_prober
from dockyard.hosts.router import router as hosts_router
from dockyard.hosts.ssh_terminal import router as ssh_terminal_router
from dockyard.images import operations as images_operations
from dockyard.images.router import router as images_router
from dockyard.jobs.router import router as jobs_router
from dockyard.kit import gc_pauses
from dockyard.kit.db import Database, retry_on_conflict
from dockyard.kit.errors import document_errors, install_error_handlers
from dockyard.kit.middleware import RequestContextMiddleware
from dockyard.kit.spa import mount_spa
from dockyard.logging_setup import configure_logging
from dockyard.mcp_registry.router import router as mcp_router
from dockyard.metrics.router import router as fleet_metrics_router
from dockyard.migrations.runner import upgrade
from dockyard.nodes.router import router as nodes_router
from dockyard.placement.router import router as placement_router
from dockyard.quotas.router import router as quotas_router
from dockyard.realtime.router import router as realtime_router
from dockyard.registries import jobs as registries_jobs
from dockyard.registries.router import router as registries_router
from dockyard.runtime import Runtime
from dockyard.scheduler import EmbeddedScheduler, install_system_jobs
from dockyard.schedules.router import router as schedules_router
from dockyard.services import operations as services_operations
from dockyard.services.adoption_router import router as adoption_router
from dockyard.services.router import router as services_router
from dockyard.settings import Settings
from dockyard.ssh.router import router as ssh_router
from dockyard.system.router import router as system_router
from dockyard.templates.router import origin_router as template_origin_router
from dockyard.templates.router import router as templates_router
from dockyard.templates.service import load_catalog as load_template_catalog
from dockyard.tokens.router import router as tokens_router
from dockyard.updates import jobs as updates_jobs
from dockyard.updates.router import router as updates_router
from dockyard.users.router import router as users_router

log = structlog.get_logger(__name__)

OPENAPI_URL = "/api/openapi.json"


async def start_runtime(
    settings: Settings, *, first_admin: bool = True, role: str = "server"
) -> Runtime:
    """Prepare the data dir and key, migrate, bootstrap; return the live runtime."""
    settings.ensure_data_dir()
    problems = settings.production_problems()
    if problems:
        raise RuntimeError("refusing to start in production: " + "; ".join(problems))
    secret = settings.load_secret_key()
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    runtime = Runtime.build(settings, secret, role=role)
    await prepare_database(runtime.db, settings, first_admin=first_admin)
    return runtime


async def prepare_database(db: Database, settings: Settings, *, first_admin: bool) -> None:
    """The rows every start ensures (bootstrap, the template catalog); several processes
    starting at once on a fresh database each get through (see `retry_on_conflict`)."""
    await bootstrap(db, settings, first_admin=first_admin)
    await retry_on_conflict(lambda: load_template_catalog(db))


# Importing registers the job handlers of each domain.
_HANDLER_MODULES = (services_operations, updates_jobs, registries_jobs, images_operations)


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> FastAPI:
    """Build the application. Settings default to the environment."""
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(settings)
        await runtime.start()
        app.state.runtime = runtime
        app.state.realtime = runtime.realtime
        scheduler = EmbeddedScheduler(runtime)
        install_system_jobs(scheduler, schedules=settings.run_scheduler)
        snapshots = SnapshotRecorder(runtime)
        await snapshots.start()
        app.state.config_snapshots = snapshots
        health_runner = start_runner(runtime) if runs_in_server(runtime) else None
        log.info(
            "server_started",
            version=__version__,
            database=settings.database_kind,
            docker_host=settings.resolved_docker_host,
        )
        # Full collections pause the event loop: fewer and shorter (see kit/gc_pauses.py).
        gc_pauses.tune()
        try:
            yield
        finally:
            await scheduler.stop()
            await snapshots.stop()
            if health_runner is not None:
                await health_runner.stop()
            await close_prober(runtime)
            await runtime.close()
            log.info("server_stopped")

    app = FastAPI(
        title="Dockyard",
        version=__version__,
        description="A self-hosted command center for Docker fleets.",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)

    app.mount("/api/docs/assets", StaticFiles(directory=swagger_ui_path), name="swagger-assets")

    @app.get("/api/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="Dockyard API",
            swagger_js_url="/api/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs/assets/swagger-ui.css",
            swagger_favicon_url="/api/docs/assets/favicon-32x32.png",
        )
        # Swagger UI boots from an inline script; allow it on this page only.
        page.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'"
        )
        return page

    for router in (
        system_router,
        auth_router,
        nodes_router,
        agent_router,
        audit_router,
        updates_router,  # before services: its /{id}/{action} would take /rollback
        registries_router,  # before services: /{id}/{action} would take /check-updates
        services_router,
        adoption_router,
        jobs_router,
        images_router,
        schedules_router,
        realtime_router,
        users_router,
        quotas_router,
        roles_router,
        tokens_router,
        hosts_router,
        ssh_router,
        ssh_terminal_router,
        health_router,
        metrics_router,
        artifacts_router,
        containers_router,
        fleet_router,
        config_router,
        templates_router,
        template_origin_router,
        mcp_router,
        alerts_router,
        dashboard_router,
        placement_router,
        fleet_metrics_router,
    ):
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    mount_spa(app)
    return app
