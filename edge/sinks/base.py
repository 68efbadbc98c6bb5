"""The sink interface and the fan-out that keeps sinks from stalling inference or each other.

A sink receives the verdicts of one trigger together (one per cavity, in cavity order), so the PLC link
can write one result block with its cavity NG mask and the MQTT sink can publish one message per part.
Each sink gets a `SinkWorker`: its own named thread behind its own bounded queue. The inference thread
only ever does a non-blocking put:

- policy DROP (production): when a sink's queue is full, that trigger's verdicts are dropped *for that
  sink only* and counted in its `dropped`; inference and the other sinks carry on.
- policy BLOCK (replay of a file): the put waits, so every sink gets every verdict and a replay is
  complete and repeatable; a slow sink then slows the replay, which is the honest outcome offline.

A sink that raises is logged (the first failure with its traceback, then every 100th) and counted in its
`errors`; the worker keeps feeding it the next verdicts. `close()` sends a sentinel, lets the sink
drain what is queued, calls the sink's own `close()` on the sink thread, and joins the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from edge.verdict import Verdict
from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256  # triggers, not verdicts; at 10 triggers/s that is 25 s of slack
TICK_S = 1.0  # a sink with a `tick()` gets it at least this often while no verdicts come


class Sink(Protocol):
    """What a sink implements. `write` runs on the sink's own thread and may block (file, network).

    `wants_evidence`: the pipeline attaches `Verdict.evidence` (crop + heatmap copies) to NG and
    NO_DECISION verdicts only if some sink asks for it, since copying pixels is not free.
    An optional `ok_evidence_share(cavity) -> float` method asks for the evidence of that share of the
    cavity's OK parts too, drawn at random on the inference thread (the review queue's OK sample); it is
    called once per OK part, so it must be a cheap, lock-free read.
    An optional `queue_size` attribute (triggers) overrides the fan-out's default for this sink, and an
    optional `tick()` method is called on the sink's thread when no verdict came for TICK_S (periodic
    status and alert work that must go on while the line stands still).
    """

    name: str
    wants_evidence: bool

    def open(self) -> None: ...

    def write(self, verdicts: Sequence[Verdict]) -> int | None:
        """Returns how many of the verdicts it could not store (counted as skipped), or None for 0."""

    def close(self) -> None: ...


class SinkPolicy(Enum):
    DROP = "drop"  # full queue: drop for this sink, count it, never wait
    BLOCK = "block"  # full queue: wait (replay only)


@dataclass(frozen=True, slots=True)
class SinkStats:
    """Counts in verdicts (not triggers). `queued` is what waits in the queue right now; `skipped` were
    handed to the sink but not stored by it (no room on the disk), so they are not `delivered`."""

    delivered: int
    dropped: int
    errors: int
    queued: int
    skipped: int = 0


class SinkWorker:
    """One sink, its bounded queue and its thread."""

    def __init__(self, sink: Sink, policy: SinkPolicy = SinkPolicy.DROP, maxsize: int = DEFAULT_QUEUE_SIZE):
        self.sink = sink
        self.policy = policy
        self._queue: queue.Queue[tuple[Verdict, ...] | None] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._delivered = self._dropped = self._errors = self._skipped = 0
        self._failed_writes = 0
        self._thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)

    def start(self) -> None:
        self.sink.open()
        self._thread.start()

    def offer(self, verdicts: tuple[Verdict, ...]) -> bool:
        """Hand over one trigger's verdicts; False if they were dropped for this sink."""
        if self.policy is SinkPolicy.BLOCK:
            self._queue.put(verdicts)
            return True
        try:
            self._queue.put_nowait(verdicts)
            return True
        except queue.Full:
            with self._lock:
                self._dropped += len(verdicts)
            return False

    def close(self, timeout_s: float = 10.0) -> bool:
        """Drain, close the sink, join the thread; False if the sink did not finish within timeout_s."""
        if not self._thread.is_alive():
            return True
        try:
            self._queue.put(None, timeout=timeout_s)  # waits only while the sink works through its queue
        except queue.Full:
            log.error("sink %s is stuck with a full queue; abandoning it", self.sink.name)
            return False
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("sink %s did not finish draining within %.0f s", self.sink.name, timeout_s)
            return False
        return True

    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(self._delivered, self._dropped, self._errors, self._queue.qsize(), self._skipped)

    def _run(self) -> None:
        tick = getattr(self.sink, "tick", None)
        try:
            while True:
                try:
                    verdicts = self._queue.get(timeout=TICK_S if tick is not None else None)
                except queue.Empty:  # a quiet line: the sink's periodic work still happens
                    self._call(tick)
                    continue
                if verdicts is None:
                    break
                self._write(verdicts)
        finally:
            try:
                self.sink.close()
            except Exception:
                log.exception("sink %s failed to close", self.sink.name)

    def _write(self, verdicts: tuple[Verdict, ...]) -> None:
        skipped = self._call(self.sink.write, verdicts)
        if skipped is None:
            with self._lock:
                self._errors += len(verdicts)
            return
        with self._lock:
            self._delivered += len(verdicts) - skipped
            self._skipped += skipped


    def _call(self, method: Callable[..., int | None], *args: object) -> int | None:
        """Run a sink method; its count (0 for None), or None if it raised (logged, rate-limited)."""
        try:
            return method(*args) or 0
        except Exception:
            self._failed_writes += 1  # only this thread touches it
            if worth_logging(self._failed_writes):
                log.exception("sink %s failed (%d time(s)); it keeps receiving verdicts",
                              self.sink.name, self._failed_writes)
            return None


class FanOut:
    """All sinks of a station. `emit` is called by the inference thread (and by the trigger queue for a
    rejected trigger), never blocks under DROP, and is safe from several threads."""

    def __init__(
        self, sinks: Sequence[Sink], policy: SinkPolicy = SinkPolicy.DROP, maxsize: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique, got {names}")
        self.workers = [SinkWorker(s, policy, getattr(s, "queue_size", maxsize)) for s in sinks]
        self.wants_evidence = any(getattr(s, "wants_evidence", False) for s in sinks)
        self._ok_shares = [s.ok_evidence_share for s in sinks if hasattr(s, "ok_evidence_share")]
        self.asks_ok_evidence = bool(self._ok_shares)

    def ok_evidence_share(self, cavity: int) -> float:
        """The largest share of `cavity`'s OK parts some sink wants the evidence of (0.0: none)."""
        share = 0.0
        for ask in self._ok_shares:
            share = max(share, ask(cavity))
        return share

    def start(self) -> None:
        started: list[SinkWorker] = []
        try:
            for worker in self.workers:
                worker.start()
                started.append(worker)
        except BaseException:
            for worker in started:
                worker.close()
            raise

    def emit(self, verdicts: tuple[Verdict, ...]) -> None:
        for worker in self.workers:
            worker.offer(verdicts)

    def close(self, timeout_s: float = 10.0) -> bool:
        """Drain and close every sink (each gets its own timeout); True if all finished."""
        return all([worker.close(timeout_s) for worker in self.workers])

    def stats(self) -> dict[str, SinkStats]:
        return {w.sink.name: w.stats() for w in self.workers}
