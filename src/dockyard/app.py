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
from dockyard.audit.router import router as audit_router
from dockyard.auth.router import router as auth_router
from dockyard.bootstrap import bootstrap
from dockyard.jobs.router import router as jobs_router
from dockyard.kit.errors import document_errors, install_error_handlers
from dockyard.kit.middleware import RequestContextMiddleware
from dockyard.kit.spa import mount_spa
from dockyard.logging_setup import configure_logging
from dockyard.migrations.runner import upgrade
from dockyard.nodes.router import router as nodes_router
from dockyard.realtime.router import router as realtime_router
from dockyard.runtime import Runtime
from dockyard.scheduler import AUDIT_PURGE_INTERVAL_S, EmbeddedScheduler, audit_retention_job
from dockyard.services import operations as services_operations
from dockyard.services.adoption_router import router as adoption_router
from dockyard.services.router import router as services_router
from dockyard.settings import Settings
from dockyard.system.router import router as system_router

log = structlog.get_logger(__name__)

OPENAPI_URL = "/api/openapi.json"


async def start_runtime(settings: Settings, *, first_admin: bool = True) -> Runtime:
    """Prepare the data dir and key, migrate, bootstrap; return the live runtime."""
    settings.ensure_data_dir()
    secret = settings.load_secret_key()
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    runtime = Runtime.build(settings, secret)
    await bootstrap(runtime.db, settings, first_admin=first_admin)
    return runtime


# Importing registers the job handlers of each domain.
_HANDLER_MODULES = (services_operations,)


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
        scheduler.every(AUDIT_PURGE_INTERVAL_S, audit_retention_job)
        log.info(
            "server_started",
            version=__version__,
            database=settings.database_kind,
            docker_host=settings.resolved_docker_host,
        )
        try:
            yield
        finally:
            await scheduler.stop()
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
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
        )
        return page

    for router in (
        system_router,
        auth_router,
        nodes_router,
        audit_router,
        services_router,
        adoption_router,
        jobs_router,
        realtime_router,
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
