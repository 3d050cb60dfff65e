"""Rendering a page: the Jinja2 environment, the context every template gets, redirects and error pages.

Templates live in ``api/templates`` and are autoescaped; a missing variable is an error
(``StrictUndefined``), so a typo fails the page tests instead of rendering an empty cell. Every page
gets ``t`` (the :class:`~api.i18n.Translator` of the request's language), ``me`` (the principal or
None), ``csrf`` (the token for hidden form inputs) and the current path for the language switcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import Principal, csrf_token
from api.i18n import LANG_COOKIE, LANGUAGE_NAMES, LANGUAGES, Translator, negotiate, translator

__all__ = ["TEMPLATES_DIR", "html", "language_of", "login_redirect", "make_environment", "not_found_page", "safe_next"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html", "svg"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    return env


def language_of(request: Request) -> Translator:
    return translator(negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")))


def html(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    me: Principal | None,
    status: int = 200,
) -> HTMLResponse:
    """Render ``template`` with the common context; the response varies with the language cookie."""
    env: jinja2.Environment = request.app.state.page_templates
    t = language_of(request)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    common = {
        "t": t,
        "lang": t.lang,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "me": me,
        "csrf": csrf_token(request),
        "here": path,
        "here_quoted": quote(path, safe=""),
        "section": "staff" if request.url.path.startswith("/staff") else "portal",
        "has_live": getattr(request.app.state, "live", None) is not None,
    }
    body = env.get_template(template).render({**common, **(context or {})})
    response = HTMLResponse(body, status_code=status)
    response.headers["Vary"] = "Cookie, Accept-Language"
    response.headers["Cache-Control"] = "no-store"  # pages show personal data
    return response


def not_found_page(request: Request, me: Principal | None) -> HTMLResponse:
    """The same 404 for what does not exist and what is not the caller's: existence is not revealed."""
    return html(request, "not_found.html", me=me, status=404)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to; anything else (another host, ``//evil``, ``/\\evil``) gives ``default``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\n" in target:
        return default
    return target


def login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
