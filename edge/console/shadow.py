"""Shadow mode page: the candidate model judging beside the active one (edge/pipeline/shadow.py), its
counts (seen, judged, dropped), its agreement with the active model and with the operator's labels over
the last N parts, and the newest parts where the two disagree. An engineer starts and stops it; loading
a model takes a moment, so the start runs off the event loop."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.ctx import Ctx, station_write
from edge.errors import MoldPilotError

log = logging.getLogger(__name__)


def routes(ctx: Ctx) -> list[BaseRoute]:
    hooks = ctx.hooks

    async def page(request: Request) -> Response:
        return ctx.page(request, "shadow.html", may_edit=request.state.session.role == "engineer",
                        offered=hooks.start_shadow is not None)

    async def state(request: Request) -> Response:
        view = hooks.shadow_view() if hooks.shadow_view is not None else None
        return JSONResponse({"offered": hooks.start_shadow is not None, "shadow": view})

    @station_write
    async def start(request: Request) -> Response:
        refused = ctx.refuse_write(request)
        if refused is not None:
            return refused
        if hooks.start_shadow is None:
            return JSONResponse({"error": request.state.tr.t("shadow.err.none")}, status_code=404)
        try:
            await run_in_threadpool(hooks.start_shadow)
        except MoldPilotError as exc:  # no candidate, or one that fails its checks: said on the page
            return JSONResponse({"error": request.state.tr.t("shadow.err.start", why=str(exc))},
                                status_code=422)
        log.info("console: %r started shadow mode", request.state.session.user)
        return JSONResponse({"ok": True})

    @station_write
    async def stop(request: Request) -> Response:
        refused = ctx.refuse_write(request)
        if refused is not None:
            return refused
        if hooks.stop_shadow is None:
            return JSONResponse({"error": request.state.tr.t("shadow.err.none")}, status_code=404)
        await run_in_threadpool(hooks.stop_shadow)  # waits for what the candidate still had queued
        log.info("console: %r stopped shadow mode", request.state.session.user)
        return JSONResponse({"ok": True})

    return [Route("/shadow", page), Route("/api/shadow", state),
            Route("/api/shadow/start", start, methods=["POST"]),
            Route("/api/shadow/stop", stop, methods=["POST"])]
