"""The login page and the two writes every role may make: log in, log out (both CSRF-protected)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.auth import Session
from edge.console.ctx import Ctx


def routes(ctx: Ctx) -> list[BaseRoute]:
    async def login_page(request: Request) -> Response:
        return ctx.page(request, "login.html", message=None)

    async def login(request: Request) -> Response:
        form = await request.form()
        refused = ctx.refuse_write(request, needed=None, form_token=str(form.get("csrf", "")))
        if refused is not None:
            return refused
        client = request.client.host if request.client else "unknown"
        outcome = ctx.auth.login(str(form.get("user", "")), str(form.get("password", "")), client)
        if outcome == "locked":
            return ctx.page(request, "login.html", message="err.locked", status_code=429)
        if outcome == "wrong":
            return ctx.page(request, "login.html", message="err.wrong", status_code=401)
        request.state.new_session = outcome
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        form = await request.form()
        refused = ctx.refuse_write(request, needed=None, form_token=str(form.get("csrf", "")))
        if refused is not None:
            return refused
        request.state.new_session = Session(None, None, request.state.session.csrf)
        return RedirectResponse("/login", status_code=303)

    return [Route("/login", login_page, methods=["GET"]), Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"])]
