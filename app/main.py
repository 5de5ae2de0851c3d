"""Application factory: middleware, routers, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import __version__, security
from app.config import Settings, get_settings
from app.db import Database, reads_of, require_url, transaction
from app.errors import install_error_handlers
from app.middleware import (
    BodyGuardMiddleware,
    CorsDisabledMiddleware,
    RateLimitMiddleware,
    TransactionRetryMiddleware,
)
from app.observability import RequestContextMiddleware, Telemetry, configure_logging
from app.openapi import TAGS, custom_openapi
from app.ratelimit import make_limiter
from app.routers import (
    api_clients,
    attachments,
    audit_events,
    auth,
    emission_factors,
    enrollments,
    enterprises,
    events,
    ideas,
    me,
    metrics,
    ops,
    organisations,
    pact,
    progress,
    results,
    stories,
    supplier_links,
    trainings,
    users,
    visits,
    webhook_endpoints,
)
from app.services import auth as auth_service
from app.services import delivery
from app.services import events as events_service
from app.services import idempotency as idempotency_service
from app.services import progress as progress_service
from app.services.blobs import close_store, open_store
from app.services.idempotency import IdempotentReplay

log = logging.getLogger("app")

ROUTERS = (
    auth.router,
    me.router,
    organisations.router,
    users.router,
    api_clients.router,
    enterprises.router,
    ideas.router,
    visits.router,
    metrics.router,
    emission_factors.router,
    results.router,
    attachments.router,
    audit_events.router,
    supplier_links.router,
    trainings.router,
    enrollments.router,
    progress.router,
    stories.router,
    events.router,
    webhook_endpoints.router,
    pact.router,
)


def operation_id(route: APIRoute) -> str:
    """`{tag}-{name}`, e.g. `users-list`: readable method names in generated SDKs."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


async def purge_idempotency_keys(db: Database, ttl_hours: int, every_seconds: float = 3600) -> None:
    """Forget stored POST responses older than the idempotency window, hourly."""
    while True:
        try:
            async with db.sessionmaker() as session:
                removed = await idempotency_service.purge_expired(session, ttl_hours)
                await session.commit()
            if removed:
                log.info("expired idempotency keys removed", extra={"count": removed})
        except Exception as exc:  # the database may be briefly away; try again later
            log.warning("idempotency purge failed", extra={"error": type(exc).__name__})
        await asyncio.sleep(every_seconds)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    db: Database = app.state.db
    async with db.sessionmaker() as session:
        if await auth_service.ensure_first_admin(session, app.state.settings):
            log.info("first administrator created", extra={"email": app.state.settings.first_admin_email})
        await session.commit()
    purger = asyncio.create_task(purge_idempotency_keys(db, app.state.settings.idempotency_ttl_hours))
    stop_worker = asyncio.Event()
    worker = None
    if app.state.settings.embedded_worker:  # WORKER=embedded (the default in development)
        worker = asyncio.create_task(
            delivery.Worker(db, app.state.settings, app.state.telemetry.webhooks).run(stop_worker)
        )
    # Everything built so far (framework, models, schemas) lives as long as the process: keep it
    # out of the collector's full passes, which otherwise stall requests for tens of ms.
    gc.collect()
    gc.freeze()
    yield
    if worker is not None:
        stop_worker.set()
        await worker
    purger.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await purger
    await db.dispose()
    await close_store(app.state.blobs)
    close = getattr(app.state.limiter, "close", None)
    if close is not None:
        await close()


class ProgrammeAPI(FastAPI):
    """FastAPI behind the client address every layer sees (rate limits, login throttle, access
    log): the connection's, or X-Forwarded-For only from TRUSTED_PROXIES."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.state.settings.trusted_proxies:
            return cast(ASGIApp, ProxyHeadersMiddleware(stack, trusted_hosts=self.state.settings.trusted_proxies))  # type: ignore[arg-type]
        return stack


EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "Link",
    "Retry-After",
    "X-Request-ID",
    "X-Next-Cursor",
    "Idempotent-Replayed",
    "WWW-Authenticate",
]
"""Response headers a browser client may read (CORS hides the others)."""


def create_app(settings: Settings | None = None, database: Database | None = None) -> ProgrammeAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    progress_service.install()
    events_service.install()
    security.configure_password_pool(settings.password_hash_threads)
    app = ProgrammeAPI(
        title="SCORE4Climate Programme API",
        version=__version__,
        summary="Enterprises' path from workplace cooperation to measured decarbonisation, for partners, experts, SMEs and lead buyers.",
        openapi_tags=TAGS,
        generate_unique_id_function=operation_id,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.db = database or Database(require_url(settings), settings)
    app.state.reads = reads_of(app.state.db)
    app.state.sessions = transaction(app.state.db)  # a transaction of its own (a download's reads)
    app.state.blobs = open_store(settings)
    app.state.large_pages = asyncio.Semaphore(settings.large_page_concurrency)
    app.state.limiter = make_limiter(settings.redis_url)
    app.state.telemetry = Telemetry()

    install_error_handlers(app)

    async def on_replay(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, IdempotentReplay)
        return exc.response()

    app.add_exception_handler(IdempotentReplay, on_replay)

    app.router.routes.extend(progress.lean_routes())  # ahead of the routes declaring them
    app.include_router(ops.router)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(ops.STATIC_URL, ops.docs_assets(), name="docs-assets")

    def openapi() -> dict[str, Any]:
        return custom_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]

    # Outermost last: request context wraps everything, so even 413/429 carry X-Request-ID.
    app.add_middleware(TransactionRetryMiddleware, telemetry=app.state.telemetry, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        BodyGuardMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.attachment_max_bytes + BodyGuardMiddleware.UPLOAD_OVERHEAD,
    )
    app.add_middleware(RateLimitMiddleware, limiter=app.state.limiter, settings=settings)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
                "X-Request-ID",
            ],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    else:
        app.add_middleware(CorsDisabledMiddleware)
    app.add_middleware(RequestContextMiddleware, telemetry=app.state.telemetry)
    return app
