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
from api.auth import (
    AuthError,
    AuthSettings,
    LoginLimiter,
    RateLimited,
    set_csrf_cookie,
    set_session,
)
from billing.invoice import SellerSettings
from billing.runs import RateCsv
from meterbill.errors import MeterbillError
from store.contract import Store
from store.errors import DisputeClosedError, DuplicateError, NotFoundError, StoreError, StoreUnavailable
from store.schema import latest_version

__all__ = ["ApiSettings", "create_app"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# Pages load scripts and styles from /static only: no inline script, no remote origin.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)


class ApiSettings(AuthSettings, Protocol):
    """What the API reads from the composition root's settings: auth's, and the login limit."""

    @property
    def login_max_attempts(self) -> int: ...

    @property
    def login_window_s(self) -> int: ...


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


def create_app(
    settings: ApiSettings,
    store: Store,
    *,
    live: object | None = None,
    version: str | None = None,
    rate_csv: RateCsv | None = None,
    seller: SellerSettings | None = None,
) -> FastAPI:
    """The application over ``store``.

    ``live`` feeds the pages' live panel (None: no broker); ``rate_csv`` rates billing runs and live
    projections (default: :func:`billing.readings_csv.rate_readings_csv`, the reader of ``meterbill
    rate``); ``seller`` is the seller of the documents (default: the development seller when
    ``settings.env`` is development; otherwise billing runs answer 503 until one is given).
    """
    from api.pages import install_pages
    from api.routes import install_routes
    from billing.readings_csv import rate_readings_csv
    from billing.seller import DEVELOPMENT_SELLER

    version = version or _installed_version()
    app = FastAPI(
        title="meterbill",
        version=version,
        description=(
            "Smart-meter and telematics billing: readings, tariffs, invoices, disputes. "
            "Authenticate with `POST /api/v1/auth/token` (OAuth2 password form), then send "
            "`Authorization: Bearer <access_token>`; integrations send an `X-API-Key` header."
        ),
        docs_url="/docs" if settings.env == "development" else None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.live = live
    app.state.rate_csv = rate_csv or rate_readings_csv
    app.state.seller = seller or (DEVELOPMENT_SELLER if settings.env == "development" else None)
    app.state.login_limiter = LoginLimiter(settings.login_max_attempts, settings.login_window_s)
    app.state.metrics = metrics.ApiMetrics(version=version, backend=store.backend, stats=store.stats)
    _install_problem_handlers(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", _CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if settings.env != "development":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        renew = getattr(request.state, "renew_session", None)
        if renew is not None and "set-cookie" not in headers:
            set_session(response, renew, settings)
        csrf = getattr(request.state, "csrf_token", None)
        if csrf is not None and getattr(request.state, "set_csrf_cookie", False):
            set_csrf_cookie(response, csrf, settings)
        return response

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

    install_routes(app)
    install_pages(app)
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
        response = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("store unavailable during %s %s: %s", request.method, request.url.path, exc)
        return problem(503, "Store unavailable", str(exc))

    def mapped(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return problem(status, _title(status), str(exc))

        return handler

    async def auth_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, RateLimited):
            response = problem(429, "Too many login attempts", str(exc), retry_after=exc.retry_after)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        response = problem(401, "Unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def meterbill_error(request: Request, exc: Exception) -> JSONResponse:
        # Refusals of the domain (a tariff that does not validate, a lifecycle step not allowed):
        # the request was understood but cannot be carried out as it stands.
        status = 422 if isinstance(exc, ValueError) else 409
        return problem(status, _title(status), str(exc))

    app.add_exception_handler(AuthError, auth_error)
    app.add_exception_handler(NotFoundError, mapped(404))
    app.add_exception_handler(DuplicateError, mapped(409))
    app.add_exception_handler(DisputeClosedError, mapped(409))
    app.add_exception_handler(MeterbillError, meterbill_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StoreUnavailable, store_unavailable)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
