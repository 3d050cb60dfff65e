"""The JSON API under ``/api/v1``: one router per resource family, installed by ``create_app``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.routes.auth import router as auth_router
from api.routes.billing import router as billing_router
from api.routes.disputes import router as disputes_router
from api.routes.operations import router as operations_router
from api.routes.readings import router as readings_router
from api.routes.registry import router as registry_router
from api.routes.tariffs import router as tariffs_router
from api.schemas import Problem

__all__ = ["PREFIX", "ROUTERS", "install_routes"]

PREFIX = "/api/v1"
ROUTERS = (
    auth_router,
    registry_router,
    tariffs_router,
    readings_router,
    billing_router,
    disputes_router,
    operations_router,
)


_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
# Every operation may answer these, as RFC 9457 problem details.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text, "content": _PROBLEM}
    for status, text in (
        (401, "not authenticated, or the token is invalid or expired"),
        (403, "the caller's role may not do this"),
        (404, "no such object (or not the caller's)"),
        (409, "the object's state does not allow this"),
        (422, "the request is invalid; `errors` names each field"),
        (429, "too many login attempts; see Retry-After"),
        (503, "the store or a needed component is unavailable"),
    )
}


def install_routes(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX, responses=PROBLEMS)
