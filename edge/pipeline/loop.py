"""The inference loop: jobs in, one verdict per part out, handed to the sinks without waiting on them.

Threads (all named, all joined in `close`): the capture reader (edge/pipeline/capture.py), one
inference thread per lane (edge/pipeline/lane.py), and one thread per sink (edge/sinks/base.py). Each
inference thread owns its lane's runners and buffers (one per model file of its RecipeBook,
edge/pipeline/recipes.py) and, per batch:

1. takes a job from the feed, plus (replay only, `micro_batch=True`) whatever backlog is ready, up to
   the runner's `max_batch` crops; in triggered mode a job is processed alone, so a trigger never waits
   for others;
2. lets its lane preprocess, run, score and build the verdicts;
3. hands them to the sinks (non-blocking under SinkPolicy.DROP) in the order the jobs were taken;
4. then, with a shadow candidate on (edge/pipeline/shadow.py), offers it references to the batch: a
   non-blocking put, read once per batch (`shadow`, swapped by one reference assignment).

Several lanes (replay on a CPU: one per core, each on one intra-op thread; see ModelRunner.lane) run
batches side by side, since whole batches in parallel use the cores better than one batch split across
threads. Their verdicts still reach the sinks in feed order: a batch that finishes before its
predecessor waits in `_ready` until that one has been handed over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from edge.frame import Frame
from edge.pipeline.books import BookSwitch, LaneBooks
from edge.pipeline.capture import Job, LatestFrames, Reader
from edge.pipeline.feeds import Feed
from edge.pipeline.gate import FailSafeGate
from edge.pipeline.lane import WHOLE_FRAME, Cavity, Lane, no_decision
from edge.pipeline.recipes import RecipeBook, RoiXywh, Runner
from edge.pipeline.shadow import Shadow
from edge.pipeline.stats import Stats
from edge.sinks.base import FanOut
from edge.triggers import Trigger, TriggerQueue
from edge.verdict import ErrorCode, Verdict

__all__ = ["WHOLE_FRAME", "Cavity", "Pipeline", "RoiXywh", "Runner"]

log = logging.getLogger(__name__)


class Pipeline:
    """Collaborators are built by edge/pipeline/build.py (or a test) and passed in; `start`, then
    `stop` (drain: no new input, finish what was accepted) and `close` (join everything)."""

    def __init__(
        self,
        recipes: RecipeBook,
        feed: Feed,
        fanout: FanOut,
        cavities: Sequence[Cavity] = WHOLE_FRAME,
        reader: Reader | None = None,
        triggers: TriggerQueue | None = None,
        ring: LatestFrames | None = None,
        micro_batch: bool = False,
        lanes: Sequence[RecipeBook] = (),
        gate: FailSafeGate | None = None,
        shadow: Shadow | None = None,
    ) -> None:
        """`recipes`: what RECIPE_ID selects (a single recipe 0 for a station without recipes:
        `RecipeBook.single(runner, judge)`); `lanes`: more books (`recipes.lane()`), each on one more
        inference thread; `shadow`: a candidate that judges every batch after it (`swap_shadow`)."""
        if not cavities:
            raise ValueError("at least one cavity is needed (WHOLE_FRAME for a single-part station)")
        self.feed, self.fanout = feed, fanout
        self._books = BookSwitch(LaneBooks((recipes, *lanes)))
        self.cavities = tuple(cavities)
        self.reader, self.triggers, self.ring = reader, triggers, ring
        self.micro_batch = micro_batch
        self.shadow = shadow
        self.stats = Stats()
        self.done = threading.Event()  # set when the inference threads have answered their last job
        ok_share = fanout.ok_evidence_share if fanout.asks_ok_evidence else None  # None: no draw at all
        self._lanes = [Lane(book, self.cavities, self.stats, fanout.wants_evidence, gate, ok_share)
                       for book in (recipes, *lanes)]
        self._threads = [threading.Thread(target=self._run, args=(i, lane), daemon=True,
                                          name="inference" if i == 0 else f"inference-{i + 1}")
                         for i, lane in enumerate(self._lanes)]
        self._take_lock = threading.Lock()  # one thread at a time takes a batch and its ticket
        self._emit_lock = threading.Lock()  # hand-over in ticket order
        self._tickets = self._next_ticket = 0
        self._ready: dict[int, list[tuple[Job, tuple[Verdict, ...]]]] = {}  # at most one per lane
        self._running = len(self._threads)
        # What a watcher (the console) reads without a lock: references handed over, never copied here.
        # The newest frame that was judged (a frame is not written to once read) and each cavity's
        # newest verdict; a NO_FRAME job leaves the last good frame in place.
        self.latest_frame: Frame | None = None
        self.latest_verdicts: dict[int, Verdict] = {}
        self._t_start_s: float | None = None
        self._t_end_s: float | None = None
        self._shared_snapshot: tuple[float, dict[str, Any]] | None = None  # (taken at, snapshot)

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.fanout.start()
        self._t_start_s = time.monotonic()
        for thread in self._threads:
            thread.start()
        if self.reader is not None:
            self.reader.start()

    def stop(self) -> None:
        """Drain: take no new triggers or frames; everything already accepted still gets its verdict."""
        if self.triggers is not None:
            self.triggers.close()
        if self.reader is not None:
            self.reader.stop()

    def close(self, timeout_s: float = 30.0) -> bool:
        """Stop, wait for the last verdict, flush and close the sinks, join all threads; True if clean."""
        self.stop()
        clean = self.reader.join(timeout_s) if self.reader is not None else True
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout_s)
        clean = clean and not any(thread.is_alive() for thread in self._threads)
        if not clean:
            log.error("pipeline threads did not finish within %.0f s", timeout_s)
        return self.fanout.close(timeout_s) and clean

    def shared_snapshot(self, max_age_s: float) -> dict[str, Any]:
        """A `snapshot()` at most `max_age_s` old: the views of many watching browsers share one,
        instead of each one computing the percentiles again."""
        now_s = time.monotonic()
        taken = self._shared_snapshot
        if taken is None or now_s - taken[0] > max_age_s:
            taken = self._shared_snapshot = (now_s, self.snapshot())
        return taken[1]

    def snapshot(self) -> dict[str, Any]:
        """Everything counted so far: frames, triggers, verdicts, errors, drops, latency percentiles."""
        end_s = self._t_end_s or time.monotonic()
        elapsed_s = end_s - self._t_start_s if self._t_start_s is not None else 0.0
        snap = self.stats.snapshot()
        return {
            "frames_in": self.reader.frames_in if self.reader is not None else snap["frames_judged"],
            "frames_judged": snap.pop("frames_judged"),
            "frames_dropped": self.ring.dropped if self.ring is not None else 0,
            "triggers": snap.pop("triggers"),
            "triggers_rejected": self.triggers.rejected if self.triggers is not None else 0,
            "triggers_unmatched": self.reader.triggers_unmatched if self.reader is not None else 0,
            **snap,
            "elapsed_s": round(elapsed_s, 3),
            "source_error": self.reader.source_error if self.reader is not None else None,
            "sinks": {name: asdict(s) for name, s in self.fanout.stats().items()},
        }

    # -- the inference threads ------------------------------------------------------------------------

    @property
    def recipes(self) -> RecipeBook:
        """The recipes every batch from now on is judged with (the first lane's book)."""
        return self._books.current.per_lane[0]

    def swap_recipes(self, recipes: RecipeBook) -> None:
        """New recipes (a promoted model, already loaded, checked and warmed up) for every batch taken
        from now on, each lane on its own `lane()` copy; a batch already taken finishes with the books
        it was taken with, which are closed once the last such batch is handed over (books.py)."""
        self._books.swap(LaneBooks((recipes, *(recipes.lane() for _ in self._lanes[1:]))))

    def _run(self, index: int, lane: Lane) -> None:
        try:
            while (taken := self._take(index, lane)) is not None:
                ticket, jobs, books, shadow = taken
                try:
                    answers = lane.answer(jobs)
                    self._hand_over(ticket, jobs, answers)
                finally:
                    self._books.release(books)
                if shadow is not None:  # after the hand-over: the sinks and the PLC never wait for it
                    shadow.offer(jobs, lane.cavities, answers)
        finally:
            with self._emit_lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self._t_end_s = time.monotonic()
                self.done.set()

    def _take(self, index: int, lane: Lane) -> tuple[int, list[Job], LaneBooks, Shadow | None] | None:
        """The next batch, its ticket (its place in the hand-over order), the books it is judged with
        and the shadow candidate to offer it to; None when the feed ends. The lane judges it with the
        cavities and models current when it is taken (`swap_cavities`, `swap_recipes`), and the shadow
        current then sees it (`swap_shadow`)."""
        with self._take_lock:
            job = self.feed.get()
            if job is None:
                return None
            lane.cavities = cavities = self.cavities  # one read: the whole batch uses the same layout
            books = self._books.take()  # and the same models: no batch is judged by a mix
            lane.recipes = books.per_lane[index]
            shadow = self.shadow
            jobs, n_cav = [job], len(cavities)
            if self.micro_batch:
                crops = n_cav
                while crops + n_cav <= lane.recipes.max_batch and (more := self.feed.poll()) is not None:
                    jobs.append(more)
                    crops += n_cav
            self._tickets += 1
            return self._tickets - 1, jobs, books, shadow

    def _hand_over(self, ticket: int, jobs: list[Job], answers: list[tuple[Verdict, ...]]) -> None:
        """Emit this batch and any later ones already waiting, in ticket order; count them after."""
        with self._emit_lock:
            self._ready[ticket] = list(zip(jobs, answers, strict=True))
            while (batch := self._ready.pop(self._next_ticket, None)) is not None:
                self._next_ticket += 1
                for job, verdicts in batch:
                    self.fanout.emit(verdicts)
                    self._show(job, verdicts)
                    self.stats.record(verdicts, had_frame=job.frame is not None,
                                      is_trigger=job.trigger is not None)

    def swap_cavities(self, cavities: Sequence[Cavity]) -> None:
        """New cavity ROIs for every batch taken from now on; a batch already taken finishes with the
        layout it was taken with, so no verdict is lost or judged half old, half new.

        One reference assignment, read once per batch under the take lock by `_take`. The swap itself
        does not wait for that lock: the taker holds it while it waits for the next trigger, so waiting
        for it would hold a save from the console until the press fires again."""
        if not cavities:
            raise ValueError("at least one cavity is needed (WHOLE_FRAME for a single-part station)")
        self.cavities = tuple(cavities)

    def swap_shadow(self, shadow: Shadow | None) -> Shadow | None:
        """Start (a Shadow) or end (None) shadow judging from the next batch taken; returns the previous
        one, which its owner closes (a batch taken before the swap may still be offered to it: `close`
        counts such a late one as dropped). One reference assignment, read once per batch by `_take`,
        as `swap_cavities`."""
        previous, self.shadow = self.shadow, shadow
        return previous

    def reject(self, trigger: Trigger) -> None:
        """A trigger the queue could not take (the station's TriggerQueue on_reject, on the submitter's
        thread): answered NO_DECISION (TRIGGER_OVERRUN) now, so the PLC still rejects the part."""
        job = Job(trigger, None, ErrorCode.TRIGGER_OVERRUN)
        verdicts = no_decision(job, self.cavities, ErrorCode.TRIGGER_OVERRUN, self.fanout.wants_evidence,
                               self.recipes.version_of(trigger.recipe_id))
        self.stats.record(verdicts, had_frame=False, is_trigger=True)
        self.fanout.emit(verdicts)
        self._show(job, verdicts)

    def _show(self, job: Job, verdicts: tuple[Verdict, ...]) -> None:
        """Hand the newest frame and verdicts to watchers: reference assignments, nothing copied."""
        if job.frame is not None:
            self.latest_frame = job.frame
        for verdict in verdicts:
            self.latest_verdicts[verdict.cavity] = verdict
