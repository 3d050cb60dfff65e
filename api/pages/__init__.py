"""Server-rendered web pages: the customer portal under ``/`` and the staff console under ``/staff/``.

Jinja2 templates (``api/templates``) rendered on the server, a stylesheet and two small scripts
(``api/static``: the live panel's event source and the billing run's progress poll); every page
works without JavaScript except the live updates themselves. English and French (``api.i18n``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import live
from api.pages import portal, session, staff
from api.pages.render import make_environment

__all__ = ["STATIC_DIR", "install_pages"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install_pages(app: FastAPI) -> None:
    """Mount the page routers and static files on ``app`` (called once by ``create_app``)."""
    app.state.page_templates = make_environment()
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (session, staff, portal, live):
        app.include_router(module.router)
