"""What the health watch costs the line (issue 20): `moldpilot replay --every-frame --speed max` with a
`health:` section (the watch on its own thread, fed by its sink) against the same replay without one.
Target: throughput within 2 %.

The reference is taken from the footage's first shots, as `moldpilot health reference` takes it, so
the watch runs the checks it would run on a line (score drift stays off here: the bench's reference
carries no model scores, which `health reference` adds).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import yaml

from edge.bench.stages import fresh, replay_fps
from edge.health.reference import Reference
from sim.timeline import Timeline

TARGET_RATIO_MIN = 0.98
REFERENCE_SHOTS = 10


def take_reference(footage: Path, timeline: Timeline, folder: Path) -> Path:
    """The watch's reference from the trigger frames of the footage's first shots."""
    wanted = {s.trigger_frame for s in timeline.shots[:REFERENCE_SHOTS]}
    capture, frames, index = cv2.VideoCapture(str(footage)), [], 0
    try:
        while len(frames) < len(wanted) and (ok_image := capture.read())[0]:
            if index in wanted:
                frames.append(ok_image[1])
            index += 1
    finally:
        capture.release()
    return Reference.build(frames, timeline.rois_xywh).save(folder)


def health_stage(model: Path, footage: Path, timeline: Timeline, rounds: int, folder: Path,
                 progress: Callable[[str], None]) -> dict[str, Any]:
    """Interleaved rounds of the replay without and with the health watch; best of each, the ratio."""
    reference = take_reference(footage, timeline, folder / "health")
    configs = {}
    for name, health in (("plain", None), ("watched", {"reference": str(reference)})):
        doc = {"station": {"site": "bench", "line": "bench", "name": "health"},
               "source": {"kind": "file", "uri": str(footage), "mode": "replay"},
               "model": {"path": str(model)},
               **({"health": health} if health else {})}
        configs[name] = folder / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(doc), encoding="utf-8")
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "watched": []}
    for round_index in range(rounds):
        for name in runs:
            which = "with" if name == "watched" else "without"
            progress(f"health round {round_index + 1}/{rounds}: replay {which} the health watch")
            runs[name].append(fresh(replay_fps, model, footage, configs[name]))
    plain, watched = (max(r["fps"] for r in runs[name]) for name in ("plain", "watched"))
    return {"fps_plain": plain, "fps_watched": watched, "ratio": round(watched / plain, 3),
            "fps_rounds": {name: [r["fps"] for r in rs] for name, rs in runs.items()},
            "target_ratio_min": TARGET_RATIO_MIN, "target_met": watched / plain >= TARGET_RATIO_MIN}
