"""Models page: the registry's versions (created, sha256, signed, validation, which is active and which
is the candidate) and its history; an engineer promotes, rolls back or marks a candidate here.

Promote and roll back go through the station (`hooks.promote` / `hooks.rollback`: the model is loaded
and warmed up before it is swapped in between batches, edge/pipeline/model_switch.py), so the page's
request waits for the load; the candidate is only a pointer in the registry. Every write is CSRF- and
role-checked; the page shows the buttons to engineers only, and the routes refuse anyone else anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.ctx import Ctx, station_write
from edge.errors import MoldPilotError

log = logging.getLogger(__name__)

HISTORY_SHOWN = 50  # newest history lines on the page
SUMMARY_KEYS = ("accuracy", "escape_rate", "false_reject_rate", "escapes", "false_rejects", "parts")


def routes(ctx: Ctx) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        return ctx.page(request, "models.html", **models_state(ctx),
                        may_edit=request.state.session.role == "engineer")

    async def state(request: Request) -> Response:
        return JSONResponse(models_state(ctx))

    @station_write
    async def promote(request: Request) -> Response:
        return await _write(ctx, request, "promote")

    @station_write
    async def rollback(request: Request) -> Response:
        return await _write(ctx, request, "rollback")

    @station_write
    async def candidate(request: Request) -> Response:
        return await _write(ctx, request, "candidate")

    return [Route("/models", page), Route("/api/models", state),
            Route("/api/models/promote", promote, methods=["POST"]),
            Route("/api/models/rollback", rollback, methods=["POST"]),
            Route("/api/models/candidate", candidate, methods=["POST"])]


def models_state(ctx: Ctx) -> dict[str, Any]:
    """Everything the page shows, read from the registry's files and the station's view."""
    registry = ctx.hooks.registry
    if registry is None:
        return {"has_registry": False, "versions": [], "history": [], "judging": None}
    active, candidate = registry.active_name(), registry.candidate_name()
    versions = [{**v.summary(), "sha256": v.sha256[:12], "active": v.version == active,
                 "candidate": v.version == candidate,
                 "validation": validation_summary(registry.validation(v.version))}
                for v in registry.versions()]
    return {"has_registry": True, "versions": versions[::-1],
            "judging": ctx.hooks.view().model.get("version"),
            "history": registry.history()[-HISTORY_SHOWN:][::-1], "live": ctx.hooks.promote is not None}


def validation_summary(record: dict[str, Any] | None) -> str:
    """A short line of a validation record's headline figures (edge/teach writes the record)."""
    if not record:
        return ""
    figures = record.get("summary", record) if isinstance(record.get("summary", record), dict) else record
    shown = [f"{key} {figures[key]}" for key in SUMMARY_KEYS if isinstance(figures.get(key), (int, float))]
    return ", ".join(shown)


async def _write(ctx: Ctx, request: Request, action: str) -> Response:
    refused = ctx.refuse_write(request)
    if refused is not None:
        return refused
    tr, who = request.state.tr, request.state.session.user or "console"
    registry = ctx.hooks.registry
    if registry is None or ctx.hooks.promote is None or ctx.hooks.rollback is None:
        return JSONResponse({"error": tr.t("models.err.no_registry")}, status_code=409)
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = {}
    version = body.get("version") if isinstance(body, dict) else None
    needs_version = action == "promote" or (action == "candidate" and version is not None)
    if needs_version and not isinstance(version, str):
        return JSONResponse({"error": tr.t("models.err.no_version")}, status_code=422)
    try:
        # Off the event loop: a promote loads and warms up a model (seconds on a busy CPU).
        if action == "promote":
            done = await asyncio.to_thread(ctx.hooks.promote, version, who)
        elif action == "rollback":
            done = await asyncio.to_thread(ctx.hooks.rollback, who)
        else:
            await asyncio.to_thread(registry.set_candidate, version, who)
            done = None
    except MoldPilotError as exc:
        log.warning("console: %s by %r refused: %s", action, who, exc)
        return JSONResponse({"error": tr.t("models.err.refused", why=str(exc))}, status_code=422)
    log.info("console: %r %s %s", who, action, done.version if done is not None else version)
    return JSONResponse({"ok": True, "version": done.version if done is not None else version})
