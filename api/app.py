"""The FastAPI application: ``create_app(settings, store)``.

The app receives everything it needs (no module globals, no environment reads), so tests build
as many apps as they like, each on its own store. Errors leave as RFC 9457 problem details.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from importlib import metadata
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import metrics
from store.contract import Store
from store.errors import StoreError, StoreUnavailable
from store.schema import latest_version

__all__ = ["ApiSettings", "create_app"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class ApiSettings(Protocol):
    """What the API reads from the composition root's settings."""

    @property
    def env(self) -> str: ...


class StoreStatus(BaseModel):
    backend: str
    schema_version: int
    expected_schema_version: int


class Health(BaseModel):
    status: str
    version: str
    store: StoreStatus


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]


def create_app(settings: ApiSettings, store: Store, *, version: str | None = None) -> FastAPI:
    version = version or _installed_version()
    app = FastAPI(
        title="meterbill",
        version=version,
        description="Smart-meter and telematics billing: readings, tariffs, invoices, disputes.",
        docs_url="/docs" if settings.env == "development" else None,
    )
    app.state.store = store
    app.state.metrics = metrics.ApiMetrics(version=version, backend=store.backend, stats=store.stats)
    _install_problem_handlers(app)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")  # templates, not raw paths: bounded label values
        request.app.state.metrics.observe(request.method, template, response.status_code, time.perf_counter() - started)
        return response

    @app.get("/health", response_model=Health, tags=["operations"])
    async def health(store: StoreDep) -> Health | JSONResponse:
        """200 when the store answers and its schema is current; 503 with the reason otherwise."""
        try:
            current = await run_in_threadpool(store.schema_version)
        except StoreError as exc:
            return problem(503, "Store unavailable", str(exc))
        expected = latest_version("sqlite" if store.backend == "sqlite" else "postgres")
        if current < expected:
            return problem(
                503,
                "Schema out of date",
                f"the store is at schema version {current}, this code needs {expected}: run `meterbill db upgrade`",
            )
        return Health(
            status="ok",
            version=version,
            store=StoreStatus(backend=store.backend, schema_version=current, expected_schema_version=expected),
        )

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus(request: Request) -> Response:
        """Prometheus scrape: build info, store figures (read now), HTTP counters."""
        body = await run_in_threadpool(request.app.state.metrics.render)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return app


def _installed_version() -> str:
    try:
        return metadata.version("meterbill")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _install_problem_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("store unavailable during %s %s: %s", request.method, request.url.path, exc)
        return problem(503, "Store unavailable", str(exc))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StoreUnavailable, store_unavailable)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
