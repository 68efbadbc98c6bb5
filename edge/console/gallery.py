"""NG gallery: the latest NG and NO_DECISION parts of the NG store (edge/ng_store.py), filtered by
cavity, defect and time, each with its crop, its heatmap overlay and its JSON record."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.ctx import Ctx

GALLERY_PARTS = 60
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILE = re.compile(r"^[A-Za-z0-9_-]+\.(png|jpg|overlay\.jpg|json)$")
_STAMP = "%Y%m%dT%H%M%S"


def routes(ctx: Ctx) -> list[BaseRoute]:
    def root() -> Path | None:
        storage = ctx.hooks.config().storage
        return Path(storage.ng_dir) if storage is not None else None

    async def page(request: Request) -> Response:
        return ctx.page(request, "gallery.html", has_store=root() is not None)

    async def listing(request: Request) -> Response:
        folder = root()
        q = request.query_params
        items = latest_parts(folder, cavity=q.get("cavity") or None, defect=q.get("defect") or None,
                             hours=float(q["hours"]) if q.get("hours") else None) if folder else []
        return JSONResponse({"parts": items, "store": folder is not None})

    async def file(request: Request) -> Response:
        folder, day, name = root(), request.path_params["day"], request.path_params["name"]
        if folder is None or not _DAY.match(day) or not _FILE.match(name):
            return Response(status_code=404)
        path = folder / day / name
        return FileResponse(path) if path.is_file() else Response(status_code=404)

    return [Route("/gallery", page), Route("/api/gallery", listing),
            Route("/api/gallery/file/{day}/{name}", file)]


def latest_parts(folder: Path, cavity: str | None = None, defect: str | None = None,
                 hours: float | None = None, limit: int = GALLERY_PARTS) -> list[dict[str, Any]]:
    """Newest first: each part's record and the URLs of its crop and overlay. The stamps in the file
    names sort in time order, so no file's metadata is trusted and no record older than needed is read."""
    since = datetime.now() - timedelta(hours=hours) if hours else None
    out: list[dict[str, Any]] = []
    days = sorted((p for p in folder.iterdir() if p.is_dir() and _DAY.match(p.name)), reverse=True) \
        if folder.is_dir() else []
    for day in days:
        for record_path in sorted(day.glob("*.json"), reverse=True):
            stem = record_path.name.removesuffix(".json")
            taken = _taken(stem)
            if since is not None and taken is not None and taken < since:
                return out
            part = _part(day, stem, record_path)
            if part is None or (cavity and str(part["record"].get("cavity")) != cavity):
                continue
            if defect and defect not in (part["record"].get("defect"), part["record"].get("error")):
                continue
            out.append(part)
            if len(out) >= limit:
                return out
    return out


def _taken(stem: str) -> datetime | None:
    try:
        return datetime.strptime(stem[:15], _STAMP)
    except ValueError:
        return None


def _part(day: Path, stem: str, record_path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # being written, or removed by the quota just now
    image = next((f"{stem}{ext}" for ext in (".png", ".jpg") if (day / f"{stem}{ext}").is_file()), None)
    base = f"/api/gallery/file/{day.name}"
    taken = _taken(stem)
    return {"id": f"{day.name}/{stem}", "record": record, "taken": taken.isoformat() if taken else None,
            "crop": f"{base}/{image}" if image else None, "overlay": f"{base}/{stem}.overlay.jpg",
            "json": f"{base}/{stem}.json"}
