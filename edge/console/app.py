"""The console app: one Starlette application, a router per concern, server-rendered Jinja2 pages and
small plain JavaScript files from static/ (no build step, nothing from the internet)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from edge.config import ConsoleSection
from edge.console import gallery, live, login, models, panel, review, rois, shadow, teach
from edge.console.auth import COOKIE, Auth
from edge.console.ctx import Ctx
from edge.console.hooks import StationHooks
from edge.console.i18n import LANG_COOKIE, Translator, language_of

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PUBLIC_PREFIXES = ("/login", "/static/")
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def session_secret(settings: ConsoleSection) -> bytes:
    """From the named environment variable, else a new one for this start (never logged or shown)."""
    if settings.session_secret_env and (value := os.environ.get(settings.session_secret_env)):
        return value.encode()
    if settings.session_secret_env:
        log.warning("console: %s is not set; sessions are signed with a secret made for this start",
                    settings.session_secret_env)
    return secrets.token_bytes(32)


def build_app(settings: ConsoleSection, hooks: StationHooks) -> Starlette:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    ctx = Ctx(settings, hooks, Auth(settings, session_secret(settings)), templates)
    routes: list[BaseRoute] = [
        *login.routes(ctx), *live.routes(ctx), *panel.routes(ctx), *rois.routes(ctx), *gallery.routes(ctx),
        *shadow.routes(ctx),
        *teach.routes(ctx),
        *review.routes(ctx),
        *models.routes(ctx),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [Middleware(BaseHTTPMiddleware, dispatch=_dispatcher(ctx))]
    return Starlette(routes=routes, middleware=middleware)


def _dispatcher(ctx: Ctx) -> Callable[..., Awaitable[Response]]:
    secure = ctx.settings.tls is not None

    async def dispatch(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        session, new = ctx.auth.session_of(request)
        request.state.session = session
        request.state.tr = Translator(language_of(request.cookies.get(LANG_COOKIE),
                                                  request.headers.get("accept-language")))
        path = request.url.path
        if session.role is None and not path.startswith(PUBLIC_PREFIXES):
            if path.startswith("/api/"):
                response: Response = JSONResponse({"error": request.state.tr.t("err.login")}, status_code=401)
            else:
                response = RedirectResponse("/login", status_code=303)
        else:
            response = await call_next(request)
        if new or getattr(request.state, "new_session", None):
            fresh = getattr(request.state, "new_session", None) or session
            response.set_cookie(COOKIE, ctx.auth.cookie(fresh), max_age=int(ctx.settings.session_max_age_s),
                                httponly=True, samesite="strict", secure=secure)
        response.headers.update(SECURITY_HEADERS)
        if path.startswith("/api/"):
            response.headers["cache-control"] = "no-store"
        return response

    return dispatch
