"""The health state machine: samples in, condition changes (new / update / end) out. No thread, no clock.

`HealthMonitor` runs the checks on each sampled frame and verdict batch, applies the precedence (which
condition hides which) and the hysteresis, and keeps the HR 114 HEALTH bits. The caller passes the
time, so the same samples always give the same events: HealthWatch drives it from its thread, tests
and the benchmark drive it directly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from edge.health.checks import FRAME_CHECKS
from edge.health.conditions import CheckResult, Condition, health_bits
from edge.health.features import measure
from edge.health.hysteresis import Debounce
from edge.health.precedence import hidden_by
from edge.health.reference import Reference
from edge.health.score_drift import check_score_drift
from edge.health.texts import Lang, Phase, alert_message
from edge.health.thresholds import HealthThresholds

# While a condition stays raised, an "update" goes out when its figure has doubled or halved since the
# last event: a fault that gets worse (or better) is followed, a figure that jitters is not (no MQTT flood).
UPDATE_FACTOR = 2.0


@dataclass(frozen=True)
class HealthEvent:
    """A condition was raised ("new"), changed while raised ("update") or cleared ("end")."""

    condition: Condition
    phase: Phase
    result: CheckResult
    health_bits: int  # HR 114 after this event
    t_s: float  # the time the sample was judged at (the caller's clock)
    shot: int | None  # the shot of the frame that decided it, when known

    def message(self, lang: Lang = "en") -> str:
        return alert_message(self.phase, self.result, lang)


@dataclass(frozen=True)
class HealthState:
    """A snapshot for the console, `doctor` and the status message."""

    health_bits: int
    raised: frozenset[Condition]
    results: Mapping[Condition, CheckResult]  # the latest judged result of each condition
    frames: int
    verdicts: int


class HealthMonitor:
    def __init__(self, reference: Reference, thresholds: HealthThresholds | None = None) -> None:
        self.reference = reference
        self.thresholds = th = thresholds or HealthThresholds()
        self._debounce = {c: Debounce(th.raise_after_samples, th.clear_after_samples) for c in Condition}
        self._debounce[Condition.CAMERA_LOST] = Debounce(1, 1)  # the frame age is its own hysteresis
        self._results: dict[Condition, CheckResult] = {}
        self._last_event_figure: dict[Condition, float] = {}
        self._scores: deque[float | None] = deque(maxlen=th.drift_window_scores)  # None: NO_DECISION
        self._last_frame_s: float | None = None
        self.frames = 0
        self.verdicts = 0

    def observe_frame(self, image_bgr: np.ndarray, t_s: float, shot: int | None = None) -> list[HealthEvent]:
        """Judge one sampled frame (H x W x 3 uint8 BGR, the reference's size) at time `t_s`."""
        self.frames += 1
        self._last_frame_s = t_s
        events = self._judge(self._camera_lost(t_s), t_s, shot)
        feats = measure(image_bgr, self.reference.layout)
        results = [check(feats, self.reference, self.thresholds) for check in FRAME_CHECKS]
        hidden = hidden_by(r.condition for r in results if r.active)
        return events + self._judge([r for r in results if r.condition not in hidden], t_s, shot)

    def observe_verdicts(self, scores: Iterable[float | None], t_s: float) -> list[HealthEvent]:
        """One trigger's verdicts as their scores, None for a NO_DECISION; judges the score window."""
        for score in scores:
            self._scores.append(score)
            self.verdicts += 1
        window = list(self._scores)
        live = [s for s in window if s is not None]
        result = check_score_drift(live, len(window) - len(live), len(window), self.reference.good_scores,
                                   self.reference.no_decision_rate, self.thresholds)
        return self._judge([result], t_s, None) if result else []

    def tick(self, t_s: float) -> list[HealthEvent]:
        """Time passing without frames: raises CAMERA_LOST once no frame came for camera_lost_after_s."""
        return self._judge(self._camera_lost(t_s), t_s, None)

    def state(self) -> HealthState:
        raised = frozenset(c for c, d in self._debounce.items() if d.raised)
        return HealthState(health_bits(raised), raised, dict(self._results), self.frames, self.verdicts)

    def _camera_lost(self, t_s: float) -> list[CheckResult]:
        """The frame-age check, or none when camera_lost_after_s is None."""
        limit_s = self.thresholds.camera_lost_after_s
        if limit_s is None:
            return []
        age_s = 0.0 if self._last_frame_s is None else t_s - self._last_frame_s
        return [CheckResult(Condition.CAMERA_LOST, "frame_age_s", age_s, limit_s)]

    def _judge(self, results: Iterable[CheckResult], t_s: float, shot: int | None) -> list[HealthEvent]:
        events = []
        for result in results:
            self._results[result.condition] = result
            debounce = self._debounce[result.condition]
            phase: Phase | None = debounce.update(result.active)
            last = self._last_event_figure.get(result.condition)
            if phase is None and debounce.raised and result.active and last:
                ratio = result.figure / last
                phase = "update" if ratio >= UPDATE_FACTOR or ratio <= 1.0 / UPDATE_FACTOR else None
            if phase is None:
                continue
            self._last_event_figure[result.condition] = result.figure
            events.append(HealthEvent(result.condition, phase, result, self.state().health_bits, t_s, shot))
        return events
