"""Shadow mode: a candidate model judges the live parts too, on its own low-priority thread, and keeps
score of how often it agrees with the active model and with the operator's labels.

The candidate never delays the active model or the PLC:

- **References, not copies, and never a wait.** After a batch's verdicts are handed to the sinks, the
  inference thread calls `offer(jobs, cavities, verdicts)`: a lock only tried (never waited for), one
  append to a small bounded queue, one notify. A judged frame is never written to again
  (edge/pipeline/loop.py `latest_frame`), so the shadow may crop it later. When the queue is full the
  OLDEST batch is dropped and its parts counted in `dropped`: the shadow is a sample of the line, but
  what it skipped is shown, not hidden.
- **Its own buffers, the same code.** The shadow thread runs the candidate through a `Lane` of its own
  (edge/pipeline/lane.py: the active path's crop, preprocessing into its runner's buffers, scoring and
  decisions, no twin), with the candidate card's thresholds and no deadline (a shadow verdict is late
  by design and must not turn NO_DECISION for it). A candidate that crashes gives MODEL_ERROR shadow
  verdicts, counted as `errors`; the active verdicts were already handed over.
- **Low priority, one core.** The thread lowers its own Linux nice value to 19 (`os.setpriority` on
  its native thread id: per-thread on Linux), so the scheduler gives the active inference threads and
  the PLC link the cores whenever they want them, and the candidate gets what is left. Its onnxruntime
  session has ONE intra-op thread, so it runs on the shadow thread itself: a pool's workers are made
  with the session, outside the shadow thread, so they would compete with the active model at normal
  priority, and spin between runs. One crop per model call (SHADOW_CROPS) keeps each stretch of
  Python between two GIL-releasing calls (cv2.resize, the session run) short, so the active thread
  seldom waits for the GIL behind the shadow.

Agreement is kept over the last `window_parts` cavity parts the shadow judged: with the active model
(same decision, over the parts both decided OK or NG) and with the operator's labels where a part has
one (`label_of(part_id, cavity)` -> a class name of the trainer's layout, or None; asked when the view
is read, since a label usually comes after the part was judged). Disagreements with the active model
are kept, the newest `MAX_DISAGREEMENTS`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.pipeline.capture import Job
from edge.pipeline.judge import Judge
from edge.pipeline.lane import Cavity, Lane
from edge.pipeline.recipes import RecipeBook, Runner
from edge.pipeline.runner import ModelRunner
from edge.pipeline.stats import Stats
from edge.verdict import Decision, ErrorCode, Verdict
from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)

LabelOf = Callable[[int | None, int], "str | None"]  # (part_id, cavity) -> class name, or None
SHADOW_NICE = 19  # the lowest priority Linux gives a thread
SHADOW_CROPS = 1  # crops per model call: short GIL stretches between calls (see the module docstring)
MAX_DISAGREEMENTS = 20
DECIDED = frozenset((Decision.OK.name, Decision.NG.name))


@dataclass(frozen=True, slots=True)
class Compared:
    """One cavity part as both models judged it."""

    part_id: int | None
    shot: int | None
    cavity: int
    active: str  # Decision name
    shadow: str
    active_score: float | None
    shadow_score: float | None


# One offered batch: its jobs, the cavities it was judged with and the active verdicts per job.
Offered = tuple[Sequence[Job], tuple[Cavity, ...], Sequence[tuple[Verdict, ...]]]


class Shadow:
    """A candidate model judging the parts the active model judged; `start`, `offer`, `view`, `close`."""

    def __init__(self, runner: Runner, judge: Judge, name: str, version: str | None = None,
                 label_of: LabelOf | None = None, window_parts: int = 200, queue_size: int = 4) -> None:
        """`runner` and `judge`: the candidate (see `open_shadow`); `name`/`version`: what the console
        shows; `queue_size`: batches waiting for the shadow before the oldest is dropped."""
        if window_parts < 1 or queue_size < 1:
            raise ValueError(f"window_parts and queue_size must be >= 1, got {window_parts}, {queue_size}")
        self.runner, self.judge = runner, judge
        self.name, self.version = name, version
        self.label_of = label_of
        self.window_parts = window_parts
        self._lane = Lane(RecipeBook.single(runner, judge), (Cavity(1),), Stats(window=1), False)
        self._pending: deque[Offered | None] = deque()
        self._missed: deque[int] = deque()  # parts of batches offered while the lock was busy
        self._closed = False
        self._queue_size = queue_size
        self._cond = threading.Condition(threading.Lock())
        self._window: deque[Compared] = deque(maxlen=window_parts)
        self._disagreements: deque[Compared] = deque(maxlen=MAX_DISAGREEMENTS)
        # The shadow thread's appends against a reader's copy; the inference threads never take it.
        self._view_lock = threading.Lock()
        self.parts_offered = self.parts_judged = self.dropped = self.skipped = self.errors = 0
        self._failures = self._label_failures = 0
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)

    # -- the inference thread's side: never waits ------------------------------------------------------

    def offer(self, jobs: Sequence[Job], cavities: tuple[Cavity, ...],
              verdicts: Sequence[tuple[Verdict, ...]]) -> None:
        """Queue references to a judged batch; when full, drop the oldest waiting batch (counted).

        The lock is only tried: in the rare moment the shadow thread holds it (taking a batch), this
        batch is dropped and counted through `_missed` (a deque append is atomic) rather than make the
        inference thread wait for a thread the scheduler may not run for a while (nice 19)."""
        n_parts = len(jobs) * len(cavities)
        if not self._cond.acquire(blocking=False):
            self._missed.append(n_parts)
            return
        try:
            self.parts_offered += n_parts
            if self._closed:  # swapped out and closing while this batch was in flight: not judged
                self.dropped += n_parts
                return
            if len(self._pending) >= self._queue_size:
                old_jobs, old_cavities, _ = self._pending.popleft()  # type: ignore[misc]
                self.dropped += len(old_jobs) * len(old_cavities)
            self._pending.append((jobs, cavities, verdicts))
            self._cond.notify()
        finally:
            self._cond.release()

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout_s: float = 30.0) -> bool:
        """Judge what is still queued, stop the thread, release the model; True if it finished in time."""
        with self._cond:
            self._closed = True
            self._pending.append(None)  # after what is queued: close drains
            self._cond.notify()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
        clean = not self._thread.is_alive()
        if clean:
            self.runner.close()
        else:
            log.error("shadow model %s did not finish within %.0f s", self.name, timeout_s)
        return clean

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- the shadow thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        lower_this_thread()
        while (item := self._next()) is not None:
            try:
                self._judge(*item)
            except Exception:  # a bug here must not end the shadow, nor ever reach the pipeline
                self._failures += 1
                self.errors += sum(len(v) for v in item[2])
                if worth_logging(self._failures):
                    log.exception("shadow model %s failed on a batch (failure %d)", self.name, self._failures)

    def _next(self) -> Offered | None:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._pending))
            self._count_missed()
            return self._pending.popleft()

    def _count_missed(self) -> None:
        """Fold the batches `offer` could not queue into the counts (under the lock)."""
        while self._missed:
            n_parts = self._missed.popleft()
            self.parts_offered += n_parts
            self.dropped += n_parts

    def _judge(self, jobs: Sequence[Job], cavities: tuple[Cavity, ...],
               verdicts: Sequence[tuple[Verdict, ...]]) -> None:
        """The candidate's verdicts on the jobs that had a frame and the model section's recipe (the
        candidate stands in for recipe 0; a part judged by another recipe's model is not compared)."""
        wanted = [(job, active) for job, active in zip(jobs, verdicts, strict=True)
                  if job.frame is not None and not job.recipe_id]
        self.skipped += (len(jobs) - len(wanted)) * len(cavities)
        if not wanted:
            return
        self._lane.cavities = cavities
        answers = self._lane.answer([job for job, _ in wanted])
        compared = [Compared(a.part_id, a.shot, a.cavity, a.decision.name, s.decision.name, a.score, s.score)
                    for (_, active), shadow in zip(wanted, answers, strict=True)
                    for a, s in zip(active, shadow, strict=True)]
        errors = sum(s.error_code is not ErrorCode.NONE for shadow in answers for s in shadow)
        with self._view_lock:
            self._window.extend(compared)
            self._disagreements.extend(c for c in compared if _both_decided(c) and c.active != c.shadow)
            self.parts_judged += len(compared)
            self.errors += errors

    # -- what the console and the status show ---------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """Counts, agreement over the window and the newest disagreements (plain JSON-able values)."""
        with self._view_lock:
            window, disagreements = list(self._window), list(self._disagreements)
            judged, errors = self.parts_judged, self.errors
        missed = sum(list(self._missed))  # not folded in yet; list() of a deque is one C call
        both = [c for c in window if _both_decided(c)]
        labelled = [(c, label) for c in window if (label := self._label(c)) is not None]
        ok_class = self.judge.class_names[self.judge.ok_index]
        expected = [(c, Decision.OK.name if label == ok_class else Decision.NG.name) for c, label in labelled]
        return {
            "name": self.name, "version": self.version, "running": self.running,
            "parts_offered": self.parts_offered + missed, "parts_judged": judged,
            "dropped": self.dropped + missed,
            "skipped": self.skipped, "errors": errors,
            "window_parts": self.window_parts, "in_window": len(window),
            "compared": len(both),
            "agreement_active": _share(sum(c.active == c.shadow for c in both), len(both)),
            "labelled": len(labelled),
            "agreement_labels": _share(sum(c.shadow == want for c, want in expected), len(expected)),
            "active_agreement_labels": _share(sum(c.active == want for c, want in expected), len(expected)),
            "disagreements": [asdict(c) for c in reversed(disagreements)],  # newest first
        }

    def _label(self, part: Compared) -> str | None:
        if self.label_of is None:
            return None
        try:
            return self.label_of(part.part_id, part.cavity)
        except Exception:  # a broken label source must not take the view down
            self._label_failures += 1
            if worth_logging(self._label_failures):
                log.exception("shadow: the label source failed for part %s cavity %d (failure %d)",
                              part.part_id, part.cavity, self._label_failures)
            return None


def open_shadow(model_path: str | Path, version: str | None = None, label_of: LabelOf | None = None,
                window_parts: int = 200, queue_size: int = 4) -> Shadow:
    """The candidate at `model_path`, checked and warmed up as every model is (a ModelError names what
    is wrong), on one intra-op thread, judged by its own card's thresholds, without a deadline."""
    runner = ModelRunner(model_path, providers=("cpu",), max_batch=SHADOW_CROPS, intra_op_threads=1)
    judge = Judge.from_card(runner.card, math.inf, where="shadow")
    return Shadow(runner, judge, runner.card.name, version, label_of, window_parts, queue_size)


def lower_this_thread() -> None:
    """Give the calling thread the lowest CPU priority (Linux: nice is per thread, by its native id)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SHADOW_NICE)
    except (AttributeError, OSError) as exc:  # not Linux: the shadow still runs, at normal priority
        log.warning("shadow thread runs at normal priority: cannot lower it (%s)", exc)


def _both_decided(part: Compared) -> bool:
    return part.active in DECIDED and part.shadow in DECIDED


def _share(agreed: int, total: int) -> float | None:
    return round(agreed / total, 4) if total else None
