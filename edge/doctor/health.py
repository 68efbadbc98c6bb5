"""Doctor check: the health watch's reference is there and fits the camera, and what the camera shows
now against it (camera moved, blocked, blurred, lighting, another mold), each figure with its bound."""

from __future__ import annotations

import time
from pathlib import Path

from edge.config import HealthSection, SourceSection
from edge.doctor.camera import grab_frames
from edge.doctor.result import CheckResult, failed, passed
from edge.errors import DataError
from edge.health.monitor import HealthMonitor
from edge.health.reference import Reference
from edge.sources.base import SourceError, SourceLost

NAME = "health watch"


def check_health(health: HealthSection, source: SourceSection) -> CheckResult:
    try:
        reference = Reference.load(Path(health.reference))
    except DataError as exc:
        return failed(NAME, str(exc), "take it with 'moldpilot health reference -c station.yaml' while good "
                                      "parts run")
    try:
        frames, _, _ = grab_frames(source)
    except (SourceError, SourceLost, TimeoutError) as exc:
        return failed(NAME, f"no frame to compare with the reference ({exc})", "see the camera check above")
    height, width = frames[0].shape[:2] if frames else (0, 0)
    if (width, height) != tuple(reference.layout.frame_wh):
        w, h = reference.layout.frame_wh
        return failed(NAME, f"the camera gives {width}x{height}, the reference was taken at {w}x{h}",
                      "take the reference again with this camera")
    monitor = HealthMonitor(reference)
    for frame in frames:
        monitor.observe_frame(frame, time.monotonic())
    results = monitor.state().results
    over = [f"{c.name} {r.figure:.3g} > {r.bound:.3g} {r.measure}" for c, r in results.items() if r.active]
    if over:
        return failed(NAME, "against the reference: " + "; ".join(over),
                      "check the camera's mount, lens, lamp and fixture; if the line was changed on purpose, "
                      "take the reference again")
    cavities = len(reference.layout.rois_xywh)
    return passed(NAME, f"reference of {reference.frames} frames, {cavities} cavities; {len(results)} checks "
                        f"within their bounds on {len(frames)} frames")
