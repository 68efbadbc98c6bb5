"""Live view: the newest judged frame as a JPEG, at the rate the browser asks, with each cavity's last
verdict (drawn by static/live.js over the image) and the defect heatmap as a toggle.

One request per refresh: `/api/live/state?shown=KEY` answers the verdicts and camera state and, only
when the browser does not already show it, the picture (a browser's HTTP request costs it more CPU
than drawing the picture, so the page does not ask twice). `/api/live/frame.jpg` is the same picture
alone, for a dashboard's image widget.

A JPEG is encoded only when a browser asks for it, on the console's thread (these async handlers run
on the server's event loop, never on an inference thread), from the frame the pipeline handed over
(never written to: the grey and heatmap versions are new arrays). However many browsers watch, there
is at most one encoding per variant every ENCODE_INTERVAL_S (a little under the page's highest rate):
a browser that asks sooner gets the picture already encoded, so three browsers at 10 frames/s on a
50 frames/s camera cost at most 12 encodings a second, not 30, and no browser gets more frames than
the camera gives.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import cv2
import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.ctx import Ctx
from edge.verdict import Decision

JPEG_QUALITY = 80
HEATMAP_ALPHA = 0.45
LOST_DIM = 0.55  # the last good frame, greyed, while the camera is lost
RATES_FPS = (1, 2, 5, 10)  # the refresh rates the page offers
DEFAULT_RATE_FPS = 2
# The window is a little shorter than the highest rate's period, so a browser at that rate, whose
# requests come a few ms early or late, still gets every new frame.
ENCODE_INTERVAL_S = 0.08


def routes(ctx: Ctx) -> list[BaseRoute]:
    cache: dict[str, Any] = {"key": None, "jpeg": b"", "jpeg_base64": "", "t_s": 0.0, "encodes": 0}

    def picture(view: Any, heat: bool) -> tuple[str, bytes, str]:
        """The key (frame/heatmap/lost), JPEG and base64 JPEG of the newest picture, encoded at most
        once a window (the base64 too: every browser's state of that window carries the same text)."""
        lost = camera_lost(view)
        key = (view.latest_frame.frame_id, heat, lost)
        now_s, cached = time.monotonic(), cache["key"]
        # a new variant at once; a newer frame of the same variant once the window is over
        if cached is None or cached[1:] != key[1:] or \
                (cached[0] != key[0] and now_s - cache["t_s"] >= ENCODE_INTERVAL_S):
            jpeg = encode_frame(view, heat, lost)
            cache.update(jpeg=jpeg, jpeg_base64=base64.b64encode(jpeg).decode("ascii"), key=key, t_s=now_s)
            cache["encodes"] += 1
        name = f"{cache['key'][0]}/{str(heat).lower()}/{str(lost).lower()}"
        return name, cache["jpeg"], cache["jpeg_base64"]

    async def home(request: Request) -> Response:
        return RedirectResponse("/live", status_code=303)

    async def page(request: Request) -> Response:
        return ctx.page(request, "live.html", rates_fps=RATES_FPS, default_rate_fps=DEFAULT_RATE_FPS)

    async def state(request: Request) -> Response:
        view = ctx.hooks.view()
        body = live_state(view)
        if view.latest_frame is not None:
            key, _, text = picture(view, request.query_params.get("heatmap") == "1")
            if key != request.query_params.get("shown"):
                body["picture"] = {"key": key, "jpeg_base64": text}
        return JSONResponse({**body, "encodes": cache["encodes"]})

    async def frame(request: Request) -> Response:
        view = ctx.hooks.view()
        if view.latest_frame is None:
            return Response(status_code=204)
        key, jpeg, _ = picture(view, request.query_params.get("heatmap") == "1")
        return Response(jpeg, media_type="image/jpeg", headers={"x-frame-id": key.split("/")[0]})

    return [Route("/", home), Route("/live", page), Route("/api/live/state", state),
            Route("/api/live/frame.jpg", frame)]


def camera_lost(view: Any) -> bool:
    return (view.camera or {}).get("state") == "lost"


def live_state(view: Any) -> dict[str, Any]:
    """What live.js draws: the frame's id and time, the camera's state, each cavity's ROI and verdict."""
    frame = view.latest_frame
    wall_of = time.time() - view.t_s  # monotonic -> wall clock, as of this view
    camera = view.camera or {}
    cavities = []
    for cavity_id, roi in sorted(view.cavities.items()):
        verdict = view.latest_verdicts.get(cavity_id)
        entry: dict[str, Any] = {"id": cavity_id, "roi": list(roi) if roi else None, "decision": None}
        if verdict is not None:
            evidence = verdict.evidence
            entry.update({
                "decision": verdict.decision.name, "defect": verdict.defect,
                "reason": verdict.error_code.name if verdict.decision is Decision.NO_DECISION else None,
                "score": None if verdict.score is None else round(verdict.score, 3),
                "part_id": verdict.part_id, "seq": verdict.seq, "frame_id": verdict.frame_id,
                "heatmap": evidence is not None and evidence.heatmap is not None})
        cavities.append(entry)
    return {
        "frame_id": frame.frame_id if frame is not None else None,
        "frame_wh": [frame.image.shape[1], frame.image.shape[0]] if frame is not None else None,
        "frame_time_s": round(frame.t_capture + wall_of, 3) if frame is not None else None,
        "now_s": round(time.time(), 3),
        "camera": {"state": camera.get("state", "ok" if frame is not None else "waiting"),
                   "lost": camera_lost(view), "reconnects": camera.get("recoveries", 0)},
        "cavities": cavities,
    }


def encode_frame(view: Any, heatmap: bool, lost: bool) -> bytes:
    """The JPEG of the newest frame: with the heatmaps of the cavities that have one, greyed when lost."""
    image = view.latest_frame.image
    if heatmap:
        image = with_heatmaps(image, view)
    if lost:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        image = cv2.cvtColor((gray * LOST_DIM).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"cannot encode a frame of shape {image.shape} as JPEG")
    return buf.tobytes()


def with_heatmaps(image: np.ndarray, view: Any) -> np.ndarray:
    """A copy of `image` with each cavity's last heatmap blended into its ROI."""
    out: np.ndarray | None = None
    for verdict in view.latest_verdicts.values():
        evidence = verdict.evidence
        if evidence is None or evidence.heatmap is None or verdict.frame_id != view.latest_frame.frame_id:
            continue
        out = image.copy() if out is None else out
        x, y, w, h = evidence.roi_xywh or (0, 0, image.shape[1], image.shape[0])
        heat = cv2.resize(np.clip(evidence.heatmap.astype(np.float32), 0, 1), (w, h),
                          interpolation=cv2.INTER_CUBIC)
        colour = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
        region = out[y:y + h, x:x + w]
        out[y:y + h, x:x + w] = cv2.addWeighted(colour[:region.shape[0], :region.shape[1]], HEATMAP_ALPHA,
                                                region, 1 - HEATMAP_ALPHA, 0)
    return image if out is None else out
