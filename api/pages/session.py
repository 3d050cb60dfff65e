"""Logging in and out of the pages, and the language switcher.

``POST /login`` is a form post with a CSRF token; a wrong password re-renders the form (401), too
many failures answer 429 with how long to wait. The session is the ``mb_session`` cookie set by
``api.auth.set_session``. ``/lang/{code}`` stores the choice in the ``mb_lang`` cookie (a year)
and goes back to the page it came from.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import AuthError, RateLimited, check_csrf, clear_session, login, page_principal, set_session
from api.i18n import LANG_COOKIE, LANGUAGES
from api.pages.common import store_of
from api.pages.render import html, language_of, safe_next

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_YEAR_S = 365 * 24 * 3600


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    me = page_principal(request)
    if me is not None:
        return RedirectResponse(safe_next(next, "/staff/" if me.is_staff else "/"), status_code=303)
    return html(request, "login.html", {"next": safe_next(next), "email": "", "error": None}, me=None)


@router.post("/login", dependencies=[Depends(check_csrf)])
def login_submit(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    t = language_of(request)
    client = request.client.host if request.client else "unknown"
    target = safe_next(next)
    try:
        me = login(store_of(request), email, password, client=client, limiter=request.app.state.login_limiter)
    except RateLimited as exc:
        context = {"next": target, "email": email, "error": t("login.rate_limited", seconds=exc.retry_after)}
        response = html(request, "login.html", context, me=None, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except AuthError:
        context = {"next": target, "email": email, "error": t("login.failed")}
        return html(request, "login.html", context, me=None, status=401)
    if target == "/" and me.is_staff:
        target = "/staff/"
    redirect = RedirectResponse(target, status_code=303)
    set_session(redirect, me, request.app.state.settings)
    return redirect


@router.get("/logout")
def logout_form(request: Request) -> Response:
    me = page_principal(request)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    return html(request, "logout.html", me=me)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    clear_session(response)
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=_YEAR_S, samesite="lax", path="/", httponly=True)
    return response
