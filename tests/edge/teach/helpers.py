"""Real crops for the teach tests: simulator parts rendered as the camera would show one cavity, and
the Verdicts a station would hand the review sink for them."""

from __future__ import annotations

import time

import numpy as np

from edge.verdict import Decision, ErrorCode, Evidence, Verdict
from sim.dataset import render_item

CLASSES = ["ok", "burn", "crack", "flash", "scratch", "short_shot", "sink_mark", "warp"]


def crop(index: int) -> np.ndarray:
    """A real simulator crop (BGR uint8), a new one per index."""
    image, _ = render_item(7, index, size_px=64, defect_rate=0.0)
    return image


def verdict(n: int, decision: Decision = Decision.NG, defect: str | None = "flash", cavity: int = 1,
            picture: bool = True) -> Verdict:
    """Part n's verdict, with its crop and a coarse heatmap as the pipeline attaches them."""
    scored = decision is not Decision.NO_DECISION
    return Verdict(
        seq=n, part_id=1000 + n, shot=n, cavity=cavity, frame_id=10 * n, decision=decision,
        defect=defect if decision is Decision.NG else None, score=0.9 if decision is Decision.NG else
        (0.1 if scored else None), error_code=ErrorCode.NONE if scored else ErrorCode.DEADLINE_MISSED,
        timings_ms={"total": 5.0}, t_trigger_s=time.monotonic(), t_wall_s=time.time(),
        evidence=Evidence(crop(n), np.full((4, 4), 0.5, np.float32), (0, 0, 64, 64)) if picture else None)
