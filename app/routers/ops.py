"""Operational endpoints outside `/v1`: health, readiness, metrics, offline docs."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from app.errors import problem_responses

router = APIRouter(tags=["operations"])

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
STATIC_URL = "/docs-assets"


class Health(BaseModel):
    status: str


class Index(BaseModel):
    """Where to start: the API's documents."""

    name: str
    version: str
    docs: str = Field(description="Interactive documentation (works offline).")
    redoc: str
    openapi: str = Field(description="The OpenAPI 3.1 document (for SDK generators).")
    api: str = Field(description="Base path of the API.")


@router.get("/", name="index", summary="Where to start", response_model=Index)
async def index(request: Request) -> Index:
    """Points people and tools to the documentation and the OpenAPI document."""
    return Index(
        name=request.app.title,
        version=request.app.version,
        docs="/docs",
        redoc="/redoc",
        openapi="/openapi.json",
        api="/v1",
    )


@router.get("/healthz", name="healthz", summary="Liveness", response_model=Health)
async def healthz() -> Health:
    """The process is up. Does not touch the database."""
    return Health(status="ok")


@router.get("/readyz", name="readyz", summary="Readiness", response_model=Health, responses=problem_responses(503))
async def readyz(request: Request) -> Health:
    """The database answers a query. 503 otherwise (take this instance out of rotation)."""
    async with request.app.state.db.engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
    return Health(status="ready")


@router.get(
    "/metrics",
    name="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format."}
    },
)
async def metrics(request: Request) -> Response:
    """Request counts by method, route and status, and latency histograms by route."""
    return Response(generate_latest(request.app.state.telemetry.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=request.app.title + " — interactive docs",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_URL}/favicon.png",
        # No validator badge: it would call validator.swagger.io, and the docs must work offline.
        swagger_ui_parameters={"persistAuthorization": True, "displayOperationId": True, "validatorUrl": None},
    )


@router.get("/docs/oauth2-redirect", include_in_schema=False)
async def swagger_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


# ReDoc's bundle loads its "API docs by Redocly" logo from a CDN, unconditionally; this policy
# keeps the page on this server (the logo simply does not show), so it works offline.
REDOC_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'"
)


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url="/openapi.json",
        title=request.app.title + " — reference",
        redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC_URL}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = REDOC_CSP
    return page


def docs_assets() -> StaticFiles:
    """Swagger UI and ReDoc bundles shipped inside a Python package: no CDN, works offline."""
    return StaticFiles(directory=DOCS_ASSETS)
