"""What every router of the console gets (`Ctx`), and the guard of every write."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from edge.config import ConsoleSection
from edge.console.auth import CSRF_HEADER, Auth, Role, Session, csrf_ok, may
from edge.console.hooks import StationHooks
from edge.console.i18n import Translator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ctx:
    """What every router gets: the settings, the station's hooks, auth and the page renderer."""

    settings: ConsoleSection
    hooks: StationHooks
    auth: Auth
    templates: Jinja2Templates

    def page(self, request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
        session: Session = request.state.session
        tr: Translator = request.state.tr
        return self.templates.TemplateResponse(request, name, {
            "t": tr.t, "lang": tr.lang, "js_text": tr.catalogue, "session": session,
            "csrf": session.csrf, "login_needed": not self.auth.open_local, "page": name.split(".")[0],
            **values}, status_code=status_code)

    def refuse_write(self, request: Request, needed: Role | None = "engineer",
                     form_token: str | None = None) -> Response | None:
        """None when this write may go ahead: a valid CSRF token (header, or `form_token` from a form
        field) and, unless `needed` is None (login, logout), the role."""
        session: Session = request.state.session
        tr: Translator = request.state.tr
        if not csrf_ok(session, request.headers.get(CSRF_HEADER) or form_token):
            log.warning("console: %s %s refused: missing or wrong CSRF token", request.method,
                        request.url.path)
            return JSONResponse({"error": tr.t("err.csrf")}, status_code=403)
        if needed is not None and not may(session, needed):
            log.warning("console: %s %s refused for %r (role %s)", request.method, request.url.path,
                        session.user, session.role)
            return JSONResponse({"error": tr.t("err.role")}, status_code=403)
        return None


def station_write(endpoint: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Marks a route that changes the station (tests enumerate them: a viewer is refused on each)."""
    endpoint.station_write = True  # type: ignore[attr-defined]
    return endpoint
