"""Review page: label the parts of the review queue (edge/teach) one key press each, and start collect
runs. Anyone logged in may look; labels and collect runs change the dataset, so they need the engineer
role (`ctx.refuse_write`), and each label names the user who gave it.

One POST per label, answered once the crop and its labels.csv row are on disk (edge/teach/labels.py),
so a label the page saw answered survives a crash of the station.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.ctx import Ctx, station_write
from edge.teach.labels import LabelError
from edge.teach.queue import ITEM_ID
from edge.teach.review import ReviewDesk

WAITING_PARTS = 12  # parts handed to the page per listing: the one shown, and the next ones preloaded
MAX_LISTING = 50
MAX_COLLECT = 10_000
_FILE = re.compile(r"^([A-Za-z0-9_-]+)\.(png|overlay\.jpg)$")


def routes(ctx: Ctx) -> list[BaseRoute]:
    def desk() -> ReviewDesk | None:
        return ctx.hooks.review

    def sink_figures() -> dict[str, Any]:
        view = ctx.hooks.view()
        return dict(view.counters.get("sinks", {}).get("review", {}))

    async def page(request: Request) -> Response:
        review = desk()
        return ctx.page(request, "review.html", has_review=review is not None,
                        classes=review.defect_classes if review else [],
                        ok_class=review.labels.ok_class if review else "")

    async def listing(request: Request) -> Response:
        review = desk()
        if review is None:
            return JSONResponse({"review": False})
        skip = frozenset(request.query_params.get("skip", "").split(",")) - {""}
        limit = min(MAX_LISTING, int(request.query_params.get("limit") or WAITING_PARTS))
        parts = [_part(record) for record in review.queue.waiting(limit, skip)]
        return JSONResponse({"review": True, "parts": parts, "counts": counts(review, sink_figures()),
                             "collect": review.collector.progress()})

    async def file(request: Request) -> Response:
        review, name = desk(), request.path_params["name"]
        match = _FILE.match(name)
        if review is None or match is None or not ITEM_ID.match(match.group(1)):
            return Response(status_code=404)
        path = review.queue.folder / name
        return FileResponse(path) if path.is_file() else Response(status_code=404)

    @station_write
    async def label(request: Request) -> Response:
        refused = ctx.refuse_write(request)
        if refused is not None:
            return refused
        review = desk()
        body = await _body(request)
        if review is None or body is None or not isinstance(body.get("item"), str):
            return _error(request, "malformed")
        try:
            # fsyncs: off the event loop, so the page's other requests are not held up
            row = await run_in_threadpool(review.labels.file, body["item"], str(body.get("answer")),
                                          _who(request), body.get("defect"))
        except LabelError as exc:
            return _error(request, exc.code)
        return JSONResponse({"row": row, "counts": counts(review, sink_figures())})

    @station_write
    async def collect(request: Request) -> Response:
        refused = ctx.refuse_write(request)
        if refused is not None:
            return refused
        review, body = desk(), await _body(request)
        if review is None or body is None:
            return _error(request, "malformed")
        if body.get("stop"):
            review.collector.stop()
            return JSONResponse({"collect": review.collector.progress()})
        try:
            count = int(body.get("count", 0))
            cavities = frozenset(int(c) for c in body.get("cavities") or ())
        except (TypeError, ValueError):
            return _error(request, "malformed")
        try:
            review.collector.start(str(body.get("label")), min(count, MAX_COLLECT), cavities, _who(request))
        except LabelError as exc:
            return _error(request, exc.code)
        return JSONResponse({"collect": review.collector.progress()})

    return [Route("/review", page), Route("/api/review/parts", listing),
            Route("/api/review/file/{name}", file),
            Route("/api/review/label", label, methods=["POST"]),
            Route("/api/review/collect", collect, methods=["POST"])]


def counts(review: ReviewDesk, sink: dict[str, Any]) -> dict[str, Any]:
    """What the page's counters show: waiting, labelled (in the dataset), dropped, and why: the queue's
    bound, a failed write, or the sink's own queue full (`sink`: its fan-out figures)."""
    stats, (revision, per_class) = review.queue.stats(), review.labels.counts()
    sink_dropped = int(sink.get("dropped", 0)) + int(sink.get("errors", 0))
    return {"revision": revision, "waiting": stats.waiting, "labelled": sum(per_class.values()),
            "dropped": stats.dropped + sink_dropped, "dropped_ok": stats.dropped_ok,
            "dropped_ng": stats.dropped_ng, "not_stored": stats.not_stored + sink_dropped,
            "no_picture": review.sink.no_picture, "per_class": per_class}


def _part(record: dict[str, Any]) -> dict[str, Any]:
    base = f"/api/review/file/{record['id']}"
    keys = ("id", "part_id", "shot", "cavity", "frame_id", "decision", "defect", "error", "score",
            "model_version", "kind")
    return {**{k: record.get(k) for k in keys}, "crop": f"{base}.png", "overlay": f"{base}.overlay.jpg"}


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _who(request: Request) -> str:
    return str(request.state.session.user or "local")


def _error(request: Request, code: str) -> Response:
    return JSONResponse({"error": request.state.tr.t(f"review.err.{code}"), "code": code}, status_code=400)
