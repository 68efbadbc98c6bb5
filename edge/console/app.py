"""The console app: one Starlette application, a router per concern, server-rendered Jinja2 pages and
small plain JavaScript files from static/ (no build step, nothing from the internet)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.config import ConsoleSection
from edge.console import gallery, live, login, models, panel, review, rois, shadow, teach
from edge.console.auth import COOKIE, Auth, Session
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
    return Starlette(routes=routes, middleware=[Middleware(Gate, ctx=ctx)])


class Gate:
    """Every request's session and language, the login gate, the session cookie and the security
    headers. Plain ASGI rather than Starlette's BaseHTTPMiddleware, which streams every response
    through a task and a memory channel: the live view asks twice per picture per browser, and that
    detour was most of what a request cost the station."""

    def __init__(self, app: ASGIApp, ctx: Ctx) -> None:
        self.app = app
        self.ctx = ctx
        self.secure = ctx.settings.tls is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # its state is the scope's, shared with the route's Request
        session, new = self.ctx.auth.session_of(request)
        request.state.session = session
        request.state.tr = Translator(language_of(request.cookies.get(LANG_COOKIE),
                                                  request.headers.get("accept-language")))
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                fresh = getattr(request.state, "new_session", None) or (session if new else None)
                if fresh is not None:
                    headers.append("set-cookie", self._cookie(fresh))
                headers.update(SECURITY_HEADERS)
                if path.startswith("/api/"):
                    headers["cache-control"] = "no-store"
            await send(message)

        if session.role is None and not path.startswith(PUBLIC_PREFIXES):
            refused: Response = (JSONResponse({"error": request.state.tr.t("err.login")}, status_code=401)
                                 if path.startswith("/api/") else RedirectResponse("/login", status_code=303))
            await refused(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)

    def _cookie(self, session: Session) -> str:
        """The Set-Cookie value, formatted by Starlette's own Response.set_cookie."""
        carrier = Response()
        carrier.set_cookie(COOKIE, self.ctx.auth.cookie(session),
                           max_age=int(self.ctx.settings.session_max_age_s), httponly=True, samesite="strict",
                           secure=self.secure)
        return carrier.headers["set-cookie"]
