"""The health watch: HealthMonitor on its own named thread, fed through a bounded queue, off the hot path.

The inference side calls `offer_frame` (a copy of a sampled frame: the pipeline reuses its buffers) and
`offer_verdicts`; neither ever blocks: when the queue is full the sample is dropped and counted, as a
late health figure is worth less than an on-time verdict. The watch thread judges each sample and
calls `on_change(event)` for every condition that is raised, updated or cleared; a callback that raises
is logged and the watch carries on. With no sample for a while it still wakes up, so a camera that
stops delivering raises CAMERA_LOST. `close()` puts a sentinel and joins the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edge.health.monitor import HealthEvent, HealthMonitor, HealthState
from edge.health.reference import Reference
from edge.health.thresholds import HealthThresholds
from edge.verdict import Decision, Verdict

log = logging.getLogger(__name__)

_WAKE_S = 0.5  # how often an idle watch looks at the clock (CAMERA_LOST resolution)


@dataclass(frozen=True)
class _FrameSample:
    image_bgr: np.ndarray
    shot: int | None
    t_s: float


@dataclass(frozen=True)
class _VerdictSample:
    scores: tuple[float | None, ...]
    t_s: float


@dataclass(frozen=True)
class WatchCounters:
    offered: int
    dropped: int  # samples refused because the queue was full


class HealthWatch:
    def __init__(
        self,
        reference: Reference,
        on_change: Callable[[HealthEvent], None],
        thresholds: HealthThresholds | None = None,
        queue_size: int = 8,
        clock: Callable[[], float] = time.monotonic,
        name: str = "health-watch",
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self._monitor = HealthMonitor(reference, thresholds)
        self._on_change = on_change
        self._clock = clock
        self._queue: queue.Queue[_FrameSample | _VerdictSample | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        # Only the watch thread touches the monitor. Readers get the snapshot it publishes after each
        # sample; this lock guards that snapshot and the counters and is held for an assignment, never
        # while judging, so offer_* never waits for a check.
        self._lock = threading.Lock()
        self._state = self._monitor.state()
        self._offered = 0
        self._dropped = 0

    def start(self) -> None:
        self._thread.start()

    def offer_frame(self, image_bgr: np.ndarray, shot: int | None = None) -> bool:
        """Queue a copy of a sampled frame (the trigger frame of a shot); False if dropped."""
        return self._offer(_FrameSample(image_bgr.copy(), shot, self._clock()))

    def offer_verdicts(self, verdicts: Sequence[Verdict]) -> bool:
        """Queue one trigger's verdicts (their scores; NO_DECISION counted as such); False if dropped."""
        scores = tuple(None if v.decision is Decision.NO_DECISION else v.score for v in verdicts)
        return self._offer(_VerdictSample(scores, self._clock()))

    def state(self) -> HealthState:
        with self._lock:
            return self._state

    def counters(self) -> WatchCounters:
        with self._lock:
            return WatchCounters(self._offered, self._dropped)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop after the samples already queued; joins the thread (waits up to `timeout_s`)."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            log.warning("health watch: queue still full after %.1f s; stopping undrained", timeout_s)
        self._thread.join(timeout_s)

    def __enter__(self) -> HealthWatch:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _offer(self, sample: _FrameSample | _VerdictSample) -> bool:
        with self._lock:
            self._offered += 1
        try:
            self._queue.put_nowait(sample)
            return True
        except queue.Full:
            with self._lock:
                self._dropped += 1
            return False

    def _run(self) -> None:
        while True:
            try:
                sample = self._queue.get(timeout=_WAKE_S)
            except queue.Empty:
                sample = _TICK
            if sample is None:
                return
            try:
                events = self._judge(sample)
            except Exception:  # a bug in a check must not end the watch: log it, keep watching
                log.exception("health watch: judging a sample failed")
                continue
            with self._lock:
                self._state = self._monitor.state()
            for event in events:
                try:
                    self._on_change(event)
                except Exception:
                    log.exception("health watch: on_change failed on %s %s", event.condition.name,
                                  event.phase)

    def _judge(self, sample: _FrameSample | _VerdictSample | object) -> list[HealthEvent]:
        if isinstance(sample, _FrameSample):
            return self._monitor.observe_frame(sample.image_bgr, sample.t_s, sample.shot)
        if isinstance(sample, _VerdictSample):
            return self._monitor.observe_verdicts(sample.scores, sample.t_s)
        return self._monitor.tick(self._clock())


_TICK = object()  # no sample came within _WAKE_S: let the monitor look at the clock
