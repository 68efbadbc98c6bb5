"""ROI editor: a snapshot of the camera, one rectangle per cavity drawn and dragged on it
(static/rois.js, pointer events: mouse and touch), each crop previewed as the model sees it, and a
save that is checked, validated by the station.yaml model, written atomically (previous version kept)
and applied by the station between batches."""

from __future__ import annotations

import json
import logging
from typing import Any

import cv2
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.ctx import Ctx, station_write
from edge.console.layout import (
    layout_problems,
    parse_layout,
    save_layout,
    sections_of,
    validation_messages,
)
from edge.errors import ConfigError

log = logging.getLogger(__name__)

SNAPSHOT_QUALITY = 90


def routes(ctx: Ctx) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        return ctx.page(request, "rois.html", may_edit=request.state.session.role == "engineer")

    async def current(request: Request) -> Response:
        view = ctx.hooks.view()
        frame = view.latest_frame
        model_wh = ctx.hooks.model_crop(frame.image, (0, 0, 8, 8)).shape[1::-1] if frame is not None else None
        return JSONResponse({
            "cavities": [{"id": c, "roi": list(roi)} for c, roi in sorted(view.cavities.items()) if roi],
            "frame_wh": [frame.image.shape[1], frame.image.shape[0]] if frame is not None else None,
            "model_wh": list(model_wh) if model_wh is not None else None,
            "saved_to": str(ctx.hooks.config_path) if ctx.hooks.config_path else None})

    async def snapshot(request: Request) -> Response:
        frame = ctx.hooks.view().latest_frame
        if frame is None:
            return Response(status_code=204)
        _, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_QUALITY])
        return Response(buf.tobytes(), media_type="image/jpeg")

    async def preview(request: Request) -> Response:
        frame = ctx.hooks.view().latest_frame
        try:
            roi = tuple(int(request.query_params[k]) for k in ("x", "y", "w", "h"))
        except (KeyError, ValueError):
            return Response(status_code=400)
        if frame is None or layout_problems([(1, roi)], frame.image.shape[1::-1]):  # type: ignore[list-item]
            return Response(status_code=422)
        _, buf = cv2.imencode(".png", ctx.hooks.model_crop(frame.image, roi))  # type: ignore[arg-type]
        return Response(buf.tobytes(), media_type="image/png")

    @station_write
    async def save(request: Request) -> Response:
        refused = ctx.refuse_write(request)
        if refused is not None:
            return refused
        return apply_layout(ctx, request, await _json(request))

    return [Route("/rois", page), Route("/api/rois", current), Route("/api/rois/snapshot.jpg", snapshot),
            Route("/api/rois/preview.png", preview), Route("/api/rois", save, methods=["POST"])]


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def apply_layout(ctx: Ctx, request: Request, body: Any) -> Response:
    """Check, validate, write, apply; every refusal says why on the page (in the page's language)."""
    tr = request.state.tr
    layout, problems = parse_layout(body)
    frame = ctx.hooks.view().latest_frame
    if not problems and frame is None:
        problems = [("roi.err.no_frame", {})]
    if not problems:
        problems = layout_problems(layout, frame.image.shape[1::-1])
    if problems:
        return JSONResponse({"errors": [tr.t(key, **values) for key, values in problems]}, status_code=422)
    try:
        sections = sections_of(layout, ctx.hooks.config())
    except ValidationError as exc:
        return JSONResponse({"errors": validation_messages(exc)}, status_code=422)
    backup = None
    if ctx.hooks.config_path is not None:
        try:
            backup = save_layout(ctx.hooks.config_path, layout)
        except (ConfigError, OSError, ValueError) as exc:
            return JSONResponse({"errors": [tr.t("roi.err.write", why=str(exc))]}, status_code=422)
    ctx.hooks.apply_rois(sections)
    log.info("console: %r applied cavities %s%s", request.state.session.user,
             [(s.id, list(s.roi)) for s in sections],
             f", saved to {ctx.hooks.config_path}" if ctx.hooks.config_path else " (in memory only)")
    return JSONResponse({"ok": True, "cavities": [{"id": s.id, "roi": list(s.roi)} for s in sections],
                         "saved_to": str(ctx.hooks.config_path) if ctx.hooks.config_path else None,
                         "backup": str(backup) if backup else None})
