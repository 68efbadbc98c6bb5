"""Triggers: "the part is in front of the camera now". The PLC link, a software trigger or the replay
timeline submit them; the pipeline turns each into exactly one verdict per cavity.

`TriggerQueue` is the interface the PLC link plugs into: `submit()` is thread-safe, never blocks the
caller (a PLC handshake must not wait on vision) and never drops silently. A trigger that cannot be
queued (queue full, or the station is shutting down) is handed to the `on_reject` callback given at
construction, which the station answers with a NO_DECISION verdict (TRIGGER_OVERRUN), so the PLC still
gets an answer and rejects the part.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import selectors
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

STOP_POLL_S = 0.2  # how often the stdin reader looks at its stop flag while no input comes


@dataclass(frozen=True, slots=True)
class Trigger:
    """One trigger. `seq` is unique per submitter run; `t_trigger_s` is time.monotonic() at the trigger.

    `frame_index` names the frame of a recorded file the trigger belongs to (replay timeline); None on a
    live line. `meta` carries what the submitter knows beyond that (replay: ground truth per cavity).
    """

    seq: int
    t_trigger_s: float
    part_id: int | None = None
    shot: int | None = None
    recipe_id: int | None = None
    frame_index: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class TriggerQueue:
    """Bounded FIFO of triggers between submitters (any thread) and the pipeline (one consumer)."""

    def __init__(self, maxsize: int = 64, on_reject: Callable[[Trigger], None] | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.on_reject = on_reject
        self._items: deque[Trigger] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.submitted = 0
        self.rejected = 0

    def submit(self, trigger: Trigger) -> bool:
        """Queue a trigger; False if it was rejected (then `on_reject` has been called with it)."""
        with self._cond:
            self.submitted += 1
            accepted = not self._closed and len(self._items) < self.maxsize
            if accepted:
                self._items.append(trigger)
                self._cond.notify()
            else:
                self.rejected += 1
        if not accepted and self.on_reject is not None:
            self.on_reject(trigger)  # outside the lock: it emits a verdict to the sinks
        return accepted

    def get(self, timeout_s: float | None = None) -> Trigger | None:
        """The oldest trigger; None when closed and empty, or when `timeout_s` passed with nothing."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed, timeout_s)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """Accept no more triggers; the ones already queued are still handed out by `get`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class SoftwareTrigger:
    """Fires triggers from code (tests, a button, a signal handler): seq 1, 2, 3, ..."""

    def __init__(self, queue: TriggerQueue) -> None:
        self.queue = queue
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def fire(
        self, part_id: int | None = None, shot: int | None = None, t_trigger_s: float | None = None
    ) -> Trigger:
        """Submit one trigger stamped `t_trigger_s` (default: now); returns it, accepted or rejected."""
        with self._lock:  # seq order == submit order, even from several threads
            t_s = time.monotonic() if t_trigger_s is None else t_trigger_s
            trigger = Trigger(seq=next(self._seq), t_trigger_s=t_s, part_id=part_id, shot=shot)
            self.queue.submit(trigger)
        return trigger


class StdinTriggers:
    """Until the PLC link is wired: each line on stdin fires one trigger. A line is empty, `PART_ID`
    or `PART_ID SHOT` (integers); anything else is logged and ignored. Stops at EOF or `close()`; at
    EOF it calls `on_eof` (`moldpilot run` then drains and exits: the producer of triggers is gone)."""

    def __init__(self, trigger: SoftwareTrigger, fd: int = 0,
                 on_eof: Callable[[], None] | None = None) -> None:
        self.trigger = trigger
        self.fd = fd
        self.on_eof = on_eof
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stdin-triggers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        pending = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(STOP_POLL_S):
                    continue
                chunk = os.read(self.fd, 4096)  # raw fd: no hidden buffer that select cannot see
                if not chunk:
                    log.info("stdin closed: no more triggers")
                    if self.on_eof is not None:
                        self.on_eof()
                    return
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    self._fire(line.decode(errors="replace").split())

    def _fire(self, fields: list[str]) -> None:
        if len(fields) > 2 or not all(f.isdigit() for f in fields):
            log.warning("stdin line %r ignored; send '', 'PART_ID' or 'PART_ID SHOT'", " ".join(fields))
            return
        self.trigger.fire(*(int(f) for f in fields))


class SignalTriggers:
    """Until the PLC link is wired: SIGUSR1 fires one trigger (`kill -USR1 <pid>`).

    The handler only stamps the time into a SimpleQueue (safe to call from a signal handler); a
    thread submits the trigger, so no lock is ever taken inside the handler.
    """

    def __init__(self, trigger: SoftwareTrigger, signum: int = signal.SIGUSR1) -> None:
        self.trigger = trigger
        self.signum = signum
        self._stamps: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="signal-triggers", daemon=True)

    def start(self) -> None:
        signal.signal(self.signum, lambda *_: self._stamps.put(time.monotonic()))
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        signal.signal(self.signum, signal.SIG_DFL)
        self._stamps.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while (t_trigger_s := self._stamps.get()) is not None:
            self.trigger.fire(t_trigger_s=t_trigger_s)
