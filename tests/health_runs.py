"""Simulator footage through the health monitor, shot by shot: shared by tests/edge/health and
benchmarks/bench_health.py.

A run renders real footage (sim.footage.write_footage, MJPG .avi + timeline), reads it back with OpenCV
as a camera stream would arrive, takes the health reference from the trigger frames of the first
REFERENCE_SHOTS shots (commissioning) and feeds every later trigger frame to a HealthMonitor, one
sample per shot, at the shot's time in the footage.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.health.conditions import Condition
from edge.health.monitor import HealthEvent, HealthMonitor
from edge.health.reference import Reference
from edge.health.thresholds import HealthThresholds
from sim.faults import Fault, FaultKind
from sim.footage import FootageSettings, write_footage
from sim.timeline import read_timeline

# Small frames, a real 2 s cycle (so the lamp drifts as fast as on a line) and 4 frames per cycle.
SMALL_FOOTAGE: Mapping[str, object] = {"cavities": 4, "cell_px": 96, "fps": 2.0, "cycle_s": 2.0}
REFERENCE_SHOTS = 10

# The condition each simulated fault must raise.
EXPECTED: Mapping[FaultKind, Condition] = {
    "camera-shift": Condition.CAMERA_MOVED,
    "camera-rotate": Condition.CAMERA_MOVED,
    "blocked": Condition.BLOCKED,
    "dirty-lens": Condition.BLOCKED,
    "blur": Condition.BLURRED,
    "lighting": Condition.LIGHTING,
    "colour-cast": Condition.LIGHTING,
    "mold-change": Condition.MOLD_CHANGED,
}


@dataclass(frozen=True)
class HealthRun:
    faults: tuple[Fault, ...]
    events: tuple[HealthEvent, ...]
    shots: int
    judge_ms_per_frame: float  # the monitor's own time per sampled frame (measure + checks + state)

    def new_events(self) -> list[HealthEvent]:
        return [e for e in self.events if e.phase == "new"]

    def delay_shots(self, fault: Fault, condition: Condition) -> int | None:
        """Shots from the fault's start until `condition` was raised (1 = on its first shot); None if never
        raised while the fault lasted."""
        last = fault.last_shot or self.shots
        for e in self.new_events():
            if e.condition is condition and fault.first_shot <= e.shot <= last:
                return e.shot - fault.first_shot + 1
        return None

    def cleared_shots(self, fault: Fault, condition: Condition) -> int | None:
        """Shots after the fault's last shot until `condition` cleared (1 = on the first healthy shot)."""
        if fault.last_shot is None:
            return None
        for e in self.events:
            if e.condition is condition and e.phase == "end" and e.shot > fault.last_shot:
                return e.shot - fault.last_shot
        return None

    def false_alarms(self) -> list[HealthEvent]:
        """Conditions raised on a shot no fault covers (a fault-free run: every raise)."""
        return [e for e in self.new_events() if not any(f.active(e.shot) for f in self.faults)]

    def raised_during(self, fault: Fault) -> set[Condition]:
        last = fault.last_shot or self.shots
        return {e.condition for e in self.new_events() if fault.first_shot <= e.shot <= last}


def render(out: Path, seed: int, shots: int, faults: Sequence[Fault] = (), **overrides: object) -> Path:
    """Write footage `out` (.avi + timeline) of the SMALL_FOOTAGE line, with `faults`; returns `out`."""
    settings = {**SMALL_FOOTAGE, **overrides}
    write_footage(out, FootageSettings(shots=shots, seed=seed, faults=tuple(faults), **settings))
    return out


def trigger_frames(video: Path) -> list[tuple[int, float, np.ndarray]]:
    """(shot, t_s, frame) of every shot's trigger frame, as OpenCV decodes the file."""
    timeline = read_timeline(video)
    wanted = {s.trigger_frame: s.shot for s in timeline.shots}
    capture = cv2.VideoCapture(str(video))
    out, index = [], 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                out.append((wanted[index], index / timeline.fps, frame))
            index += 1
    finally:
        capture.release()
    return out


def watch_footage(video: Path, thresholds: HealthThresholds | None = None) -> HealthRun:
    """The monitor's events over `video`, referenced on its first REFERENCE_SHOTS shots."""
    timeline = read_timeline(video)
    frames = trigger_frames(video)
    reference = Reference.build([f for _, _, f in frames[:REFERENCE_SHOTS]], timeline.rois_xywh)
    monitor = HealthMonitor(reference, thresholds)
    events: list[HealthEvent] = []
    start = time.perf_counter()
    for shot, t_s, frame in frames[REFERENCE_SHOTS:]:
        events += monitor.observe_frame(frame, t_s, shot)
    judge_ms = 1000.0 * (time.perf_counter() - start) / max(1, len(frames) - REFERENCE_SHOTS)
    return HealthRun(timeline.faults, tuple(events), len(timeline.shots), judge_ms)
