"""Teach page: train a candidate on the labelled parts (progress, cancel, readiness verdict), validate it
beside the active model (side-by-side figures and the parts they disagree on), and preview the
threshold on its validation scores before saving it into its card. Every write is an engineer's."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.ctx import Ctx, station_write
from edge.teach.desk import TeachDesk, dataset_summary
from edge.teach.jobs import JobBusy
from edge.teach.threshold import at_threshold, operating_points, preview, save_threshold
from edge.teach.validate import ValidationError
from models.card import read_card

log = logging.getLogger(__name__)

IMAGE_NAME = re.compile(r"^\d{4}\.png$")


def routes(ctx: Ctx) -> list[BaseRoute]:
    def desk() -> TeachDesk | None:
        return ctx.hooks.teach

    async def page(request: Request) -> Response:
        return ctx.page(request, "teach.html", has_desk=desk() is not None,
                        may_edit=request.state.session.role == "engineer")

    async def state(request: Request) -> Response:
        d = desk()
        if d is None:
            return JSONResponse({"error": request.state.tr.t("teach.no_desk")}, status_code=404)
        return JSONResponse(teach_state(d))

    async def validation(request: Request) -> Response:
        d = desk()
        found = d.candidate() if d else None
        record = d.validation(found[0]) if d and found else None
        if record is None:
            return JSONResponse({"record": None})
        threshold = read_card(found[1]).threshold
        return JSONResponse({"version": found[0], "record": _shown(record),
                             "preview": preview(*_scores(record), threshold)})

    async def image(request: Request) -> Response:
        d, name = desk(), request.path_params["name"]
        found = d.candidate() if d else None
        if found is None or not IMAGE_NAME.match(name):
            return Response(status_code=404)
        path = d.validation_dir(found[0]) / "disagree" / name
        return FileResponse(path, media_type="image/png") if path.is_file() else Response(status_code=404)

    @station_write
    async def train(request: Request) -> Response:
        return _write(ctx, request, lambda d: d.train(request.state.session.user or "local"))

    @station_write
    async def cancel(request: Request) -> Response:
        return _write(ctx, request, lambda d: {"cancelled": d.jobs.cancel()})

    @station_write
    async def validate(request: Request) -> Response:
        return _write(ctx, request, lambda d: _start_validation(d, request))

    @station_write
    async def threshold(request: Request) -> Response:
        body = await _json(request)
        return _write(ctx, request, lambda d: _save_threshold(d, request, body))

    return [Route("/teach", page), Route("/api/teach", state), Route("/api/teach/validation", validation),
            Route("/api/teach/disagree/{name}", image),
            Route("/api/teach/train", train, methods=["POST"]),
            Route("/api/teach/cancel", cancel, methods=["POST"]),
            Route("/api/teach/validate", validate, methods=["POST"]),
            Route("/api/teach/threshold", threshold, methods=["POST"])]


def teach_state(d: TeachDesk) -> dict[str, Any]:
    candidate, active = d.candidate(), d.active()
    return {"dataset": {"path": str(d.dataset), **dataset_summary(d.dataset)}, "job": d.jobs.state(),
            "validation": d.validator.state(),
            "candidate": candidate[0] if candidate else None, "active": active[0] if active else None,
            "can_validate": bool(candidate and active and (d.holdout or d.footage))}


def _write(ctx: Ctx, request: Request, action: Any) -> Response:
    """The guard (CSRF, engineer role), then `action(desk)`; a refusal says why in the page's language."""
    refused = ctx.refuse_write(request)
    if refused is not None:
        return refused
    d = ctx.hooks.teach
    tr = request.state.tr
    if d is None:
        return JSONResponse({"error": tr.t("teach.no_desk")}, status_code=404)
    try:
        return JSONResponse(action(d))
    except JobBusy:
        return JSONResponse({"error": tr.t("teach.err.busy")}, status_code=409)
    except (ValidationError, ValueError) as exc:
        return JSONResponse({"error": tr.t("teach.err.refused", why=str(exc))}, status_code=422)


def _start_validation(d: TeachDesk, request: Request) -> dict[str, Any]:
    candidate, active = d.candidate(), d.active()
    if candidate is None or active is None:
        raise ValidationError(request.state.tr.t("teach.err.no_candidate"))
    d.validator.start(candidate[0], candidate[1], active[1], d.validation_dir(candidate[0]), d.holdout,
                      d.footage, d.save_validation)
    log.info("console: %r validates %s against %s", request.state.session.user, candidate[0], active[0])
    return {"started": candidate[0]}


def _save_threshold(d: TeachDesk, request: Request, body: Any) -> dict[str, Any]:
    candidate = d.candidate()
    record = d.validation(candidate[0]) if candidate else None
    if candidate is None or record is None:
        raise ValidationError(request.state.tr.t("teach.err.no_validation"))
    try:
        value = float(body["threshold"])
    except (TypeError, KeyError, ValueError):
        raise ValidationError(request.state.tr.t("teach.err.threshold")) from None
    scores, defective = _scores(record)
    figures = at_threshold(operating_points(scores, defective), value)
    who = request.state.session.user or "local"
    previous = save_threshold(candidate[1], value, who, {**figures, "parts": len(scores)})
    log.info("console: %r set the threshold of %s to %.4f (was %.4f)", who, candidate[0], value, previous)
    return {"saved": value, "previous": previous, **figures}


def _scores(record: dict[str, Any]) -> tuple[list[float], list[bool]]:
    pairs = record.get("scores") or []
    return [float(s) for s, _ in pairs], [bool(d) for _, d in pairs]


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its score list (the preview table carries that)."""
    return {k: v for k, v in record.items() if k != "scores"}


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None
