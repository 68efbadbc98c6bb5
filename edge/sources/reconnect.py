"""Keep a live source alive: on a loss, close it, wait with backoff, reopen it, carry on.

The capture loop never sees a loss: `read()` blocks until a frame arrives again or shutdown is asked
for (the stop event), so a camera that is unplugged for a minute costs a minute of frames and nothing
else. What happened is recorded for the status and alert publishers: `state`, counters and the last
error, and an optional `on_state_change(state, detail)` callback (the MQTT "camera lost" alert).

The first `open()` is not retried: a source that never worked is a setup mistake and should stop the
start-up with its one-line SourceError. Only a source that has worked once is worth waiting for.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edge.sources.base import FrameSource, SourceError, SourceLost, SourceNotReady

log = logging.getLogger(__name__)

State = Literal["ok", "lost", "closed"]
StateCallback = Callable[[State, str], None]

DEFAULT_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class ReconnectStats:
    """A consistent snapshot for a status publisher running on another thread."""

    state: State
    losses: int
    recoveries: int
    reconnect_attempts: int
    last_error: str | None


class Reconnecting:
    """A FrameSource wrapping a live one; `read()` returns None only once `stop_event` is set.

    Waits between attempts follow `backoff_s` (the last value repeats), each capped by
    `reconnect_max_s`, and end at once when `stop_event` is set. The counters are written by the
    reading thread under a lock; other threads read them through `stats()`.
    """

    is_live = True
    frame_count: int | None = None

    def __init__(
        self,
        source: FrameSource,
        stop_event: threading.Event,
        *,
        backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
        reconnect_max_s: float = 10.0,
        on_state_change: StateCallback | None = None,
    ) -> None:
        if not backoff_s or min(backoff_s) < 0 or reconnect_max_s <= 0:
            raise ValueError("backoff_s must be non-empty and >= 0, reconnect_max_s > 0")
        self.source = source
        self.name = source.name
        self._stop = stop_event
        self._delays_s = [min(delay_s, reconnect_max_s) for delay_s in backoff_s]
        self._on_state_change = on_state_change
        self._lock = threading.Lock()
        self.state: State = "closed"
        self.losses = 0
        self.recoveries = 0
        self.reconnect_attempts = 0
        self.last_error: str | None = None

    @property
    def fps(self) -> float | None:
        return self.source.fps

    def stats(self) -> ReconnectStats:
        with self._lock:
            return ReconnectStats(
                self.state, self.losses, self.recoveries, self.reconnect_attempts, self.last_error
            )

    def open(self) -> None:
        """Open the camera; one that is not up yet (it boots after the PC, its cable is out) is not a
        reason to stop the station: it starts as lost and `read` keeps reconnecting, so every trigger
        meanwhile is answered NO_DECISION and the camera-lost alert is raised. `moldpilot doctor` is
        where a missing camera is an error."""
        try:
            self.source.open()
        except (SourceNotReady, SourceLost) as exc:  # a wrong setting (SourceError) still stops the start
            self._lose(f"{exc} (not up at start)")  # state "lost": read() reconnects, never refuses
            return
        self._set_state("ok", "opened")

    def read(self) -> np.ndarray | None:
        while not self._stop.is_set():
            if self.state == "closed":
                raise RuntimeError(f"{self.name}: read() on a source that is not open")
            if self.state == "lost":
                self._reconnect()
                continue
            try:
                image = self.source.read()
            except SourceLost as exc:
                self._lose(str(exc))
                continue
            if image is None:  # a live source has no end: a None is a loss too
                self._lose(f"{self.name}: stream ended")
                continue
            return image
        return None

    def close(self) -> None:
        self.source.close()
        self._set_state("closed", "closed")

    def _lose(self, error: str) -> None:
        self.source.close()
        with self._lock:
            self.losses += 1
            self.last_error = error
        log.warning("source lost: %s; reconnecting, waits up to %g s", error, max(self._delays_s))
        self._set_state("lost", error)

    def _reconnect(self) -> None:
        """Try until the source reopens or stop is set; one log line for the recovery, not per try."""
        lost_at = time.monotonic()
        for attempt in itertools.count():
            delay_s = self._delays_s[min(attempt, len(self._delays_s) - 1)]
            if self._stop.wait(delay_s):
                return
            with self._lock:
                self.reconnect_attempts += 1
            try:
                self.source.open()
            except (SourceError, SourceLost) as exc:
                with self._lock:
                    self.last_error = str(exc)
                log.debug("%s: reconnect attempt %d failed: %s", self.name, attempt + 1, exc)
                continue
            with self._lock:
                self.recoveries += 1
            detail = f"reconnected after {attempt + 1} attempt(s), {time.monotonic() - lost_at:.1f} s down"
            log.warning("%s %s", self.name, detail)
            self._set_state("ok", detail)
            return

    def _set_state(self, state: State, detail: str) -> None:
        with self._lock:
            if state == self.state:
                return
            self.state = state
        if self._on_state_change is None:
            return
        try:
            self._on_state_change(state, detail)
        except Exception:  # an alert hook must not take the camera down with it
            log.exception("%s: on_state_change callback failed", self.name)
