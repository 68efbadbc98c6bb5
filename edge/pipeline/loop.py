"""The inference loop: jobs in, one verdict per part out, handed to the sinks without waiting on them.

Threads (all named, all joined in `close`): the capture reader (edge/capture.py), this inference
thread, and one thread per sink (edge/sinks/base.py). The inference thread owns the runner and its
buffers. Per batch it:

1. takes a job from its feed, plus (replay only, `micro_batch=True`) whatever backlog is ready, up to
   the runner's `max_batch` crops; in triggered mode a job is processed alone, so a trigger never waits
   for others;
2. writes every cavity crop straight into the runner's preallocated input buffer (`preprocess_into`),
   runs the model once for the batch, and scores it in one vectorised step (edge/judge.py);
3. builds each job's verdicts, applying the deadline, and emits them (non-blocking under SinkPolicy.DROP).

Nothing on this thread does file or network I/O. Failures never stop it: a crop that cannot be cut
is PREPROCESS_ERROR, a model that raises makes every part of its batch MODEL_ERROR, and a bug anywhere
in a batch makes its parts INTERNAL_ERROR, all NO_DECISION; every job still gets its verdicts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from edge.capture import Job, LatestFrames, Reader
from edge.judge import Judge
from edge.pipeline.feeds import Feed
from edge.pipeline.ratelog import worth_logging
from edge.pipeline.stats import Stats
from edge.sinks.base import FanOut
from edge.triggers import Trigger, TriggerQueue
from edge.verdict import Decision, ErrorCode, Evidence, Verdict

log = logging.getLogger(__name__)

RoiXywh = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Cavity:
    """One cavity of the mold: its 1-based id and its ROI in frame pixels (None = the whole frame)."""

    id: int
    roi_xywh: RoiXywh | None = None


WHOLE_FRAME = (Cavity(1, None),)


class Runner(Protocol):
    """What the loop needs of edge.runner.ModelRunner (a test may wrap one to inject faults)."""

    max_batch: int

    def preprocess_into(self, slot: int, image: np.ndarray, roi_xywh: RoiXywh | None = None) -> None: ...

    def infer(self, n: int) -> Any: ...


# Per crop: (P(defect), defect class index, NG, heatmap copy or None), or why there is no score.
CropResult = tuple[float, int, bool, np.ndarray | None] | ErrorCode


class Pipeline:
    """Collaborators are built by edge/pipeline/build.py (or a test) and passed in; `start`, then
    `stop` (drain: no new input, finish what was accepted) and `close` (join everything)."""

    def __init__(
        self,
        runner: Runner,
        judge: Judge,
        feed: Feed,
        fanout: FanOut,
        cavities: Sequence[Cavity] = WHOLE_FRAME,
        reader: Reader | None = None,
        triggers: TriggerQueue | None = None,
        ring: LatestFrames | None = None,
        micro_batch: bool = False,
    ) -> None:
        if not cavities:
            raise ValueError("at least one cavity is needed (WHOLE_FRAME for a single-part station)")
        self.runner, self.judge, self.feed, self.fanout = runner, judge, feed, fanout
        self.cavities = tuple(cavities)
        self.reader, self.triggers, self.ring = reader, triggers, ring
        self.micro_batch = micro_batch
        self.stats = Stats()
        self.done = threading.Event()  # set when the inference thread has answered its last job
        self._model_failures = 0
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._t_start_s: float | None = None
        self._t_end_s: float | None = None
        if triggers is not None:
            triggers.on_reject = self._reject

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.fanout.start()
        self._t_start_s = time.monotonic()
        self._thread.start()
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
        if self._thread.ident is not None:  # started
            self._thread.join(timeout_s)
        clean = clean and not self._thread.is_alive()
        if not clean:
            log.error("pipeline threads did not finish within %.0f s", timeout_s)
        return self.fanout.close(timeout_s) and clean

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
            **snap,
            "elapsed_s": round(elapsed_s, 3),
            "source_error": self.reader.source_error if self.reader is not None else None,
            "sinks": {name: asdict(s) for name, s in self.fanout.stats().items()},
        }

    # -- the inference thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (jobs := self._next_batch()) is not None:
                try:
                    results = self._infer(jobs)
                    answers = [self._verdicts(job, res, timings) for job, res, timings in results]
                except Exception:
                    log.exception("pipeline bug while processing %d job(s); answering NO_DECISION", len(jobs))
                    answers = [self._failed(job, ErrorCode.INTERNAL_ERROR) for job in jobs]
                for job, verdicts in zip(jobs, answers, strict=True):
                    self.stats.record(verdicts, had_frame=job.frame is not None,
                                      is_trigger=job.trigger is not None)
                    self.fanout.emit(verdicts)
        finally:
            self._t_end_s = time.monotonic()
            self.done.set()

    def _next_batch(self) -> list[Job] | None:
        job = self.feed.get()
        if job is None:
            return None
        jobs, n_cav = [job], len(self.cavities)
        if self.micro_batch:
            crops = n_cav
            while crops + n_cav <= self.runner.max_batch and (more := self.feed.poll()) is not None:
                jobs.append(more)
                crops += n_cav
        return jobs

    def _infer(self, jobs: list[Job]) -> list[tuple[Job, list[CropResult], dict[str, float]]]:
        """Preprocess, run and score all crops of `jobs` in chunks of at most max_batch."""
        t_start_s = time.monotonic()
        results: list[list[CropResult]] = [[ErrorCode.NONE] * len(self.cavities) for _ in jobs]
        crops = [(j, c) for j, job in enumerate(jobs) if job.frame is not None
                 for c in range(len(self.cavities))]
        spent_s = {"preprocess": 0.0, "infer": 0.0, "judge": 0.0}
        if crops:
            self.stats.record_batch(len(crops))
        for first in range(0, len(crops), self.runner.max_batch):
            self._infer_chunk(jobs, crops[first:first + self.runner.max_batch], results, spent_s)
        batch_ms = {stage: s * 1000.0 for stage, s in spent_s.items()}
        out = []
        for job, job_results in zip(jobs, results, strict=True):
            t_trigger_s = job.t_trigger_s
            t_ready_s = max(t_trigger_s, job.frame.t_capture) if job.frame is not None else t_trigger_s
            timings = {
                "capture": max(0.0, t_ready_s - t_trigger_s) * 1000.0,
                "queue": max(0.0, t_start_s - t_ready_s) * 1000.0,
                **batch_ms,
            }
            out.append((job, job_results, timings))
        return out

    def _infer_chunk(
        self,
        jobs: list[Job],
        chunk: list[tuple[int, int]],
        results: list[list[CropResult]],
        spent_s: dict[str, float],
    ) -> None:
        t0 = time.monotonic()
        slots: list[tuple[int, int]] = []
        for j, c in chunk:
            frame = jobs[j].frame
            assert frame is not None
            try:
                self.runner.preprocess_into(len(slots), frame.image, self.cavities[c].roi_xywh)
                slots.append((j, c))
            except Exception as exc:  # ROI outside this frame, unusable image: this part only
                results[j][c] = ErrorCode.PREPROCESS_ERROR
                log.warning("cavity %d of frame %d cannot be cut: %s",
                            self.cavities[c].id, frame.frame_id, exc)
        t1 = time.monotonic()
        spent_s["preprocess"] += t1 - t0
        if not slots:
            return
        try:
            outputs = self.runner.infer(len(slots))
            t2 = time.monotonic()
            scores = self.judge.score(outputs.probs)
        except Exception:
            self._model_failures += 1
            if worth_logging(self._model_failures):
                log.exception("model failed on a batch of %d (failure %d); those parts are NO_DECISION",
                              len(slots), self._model_failures)
            for j, c in slots:
                results[j][c] = ErrorCode.MODEL_ERROR
            spent_s["infer"] += time.monotonic() - t1
            return
        heatmaps = getattr(outputs, "heatmap", None) if self.fanout.wants_evidence else None
        for k, (j, c) in enumerate(slots):
            heatmap = heatmaps[k].copy() if heatmaps is not None else None  # the buffer is reused
            results[j][c] = (float(scores.p_defect[k]), int(scores.defect_index[k]), bool(scores.ng[k]),
                             heatmap)
        spent_s["infer"] += t2 - t1
        spent_s["judge"] += time.monotonic() - t2

    def _verdicts(
        self, job: Job, results: list[CropResult], timings: dict[str, float]
    ) -> tuple[Verdict, ...]:
        now_s = time.monotonic()
        timings["total"] = (now_s - job.t_trigger_s) * 1000.0
        verdicts = []
        for cavity, result in zip(self.cavities, results, strict=True):
            if job.frame is None:
                result = job.error_code
            if isinstance(result, ErrorCode):
                decision, error, score, defect, heatmap = Decision.NO_DECISION, result, None, None, None
            else:
                score, defect_index, ng, heatmap = result
                decision, error = self.judge.decide(ng, timings["total"])
                defect = self.judge.class_names[defect_index] if ng else None
            verdicts.append(self._verdict(job, cavity, decision, error, score, defect, timings, heatmap))
        return tuple(verdicts)

    def _verdict(
        self,
        job: Job,
        cavity: Cavity,
        decision: Decision,
        error: ErrorCode,
        score: float | None,
        defect: str | None,
        timings: dict[str, float],
        heatmap: np.ndarray | None = None,
    ) -> Verdict:
        part_id, shot, truth = _identity(job, cavity.id)
        evidence = None
        if self.fanout.wants_evidence and decision is not Decision.OK and job.frame is not None:
            image = job.frame.image
            if cavity.roi_xywh is not None:
                x, y, w, h = cavity.roi_xywh
                image = image[y:y + h, x:x + w]
            evidence = Evidence(image.copy(), heatmap, cavity.roi_xywh)
        return Verdict(
            seq=job.seq, part_id=part_id, shot=shot, cavity=cavity.id,
            frame_id=job.frame.frame_id if job.frame is not None else None,
            decision=decision, defect=defect, score=score, error_code=error, timings_ms=timings,
            t_trigger_s=job.t_trigger_s, t_wall_s=time.time(), truth=truth, evidence=evidence,
        )

    def _failed(self, job: Job, error: ErrorCode) -> tuple[Verdict, ...]:
        """NO_DECISION for every cavity of a job that could not be processed at all."""
        timings = {"total": (time.monotonic() - job.t_trigger_s) * 1000.0}
        return tuple(self._verdict(job, c, Decision.NO_DECISION, error, None, None, timings)
                     for c in self.cavities)

    def _reject(self, trigger: Trigger) -> None:
        """A trigger the queue could not take (runs on the submitter's thread): answer NO_DECISION now."""
        job = Job(trigger, None, ErrorCode.TRIGGER_OVERRUN)
        verdicts = self._failed(job, ErrorCode.TRIGGER_OVERRUN)
        self.stats.record(verdicts, had_frame=False, is_trigger=True)
        self.fanout.emit(verdicts)


def _identity(job: Job, cavity_id: int) -> tuple[int | None, int | None, str | None]:
    """Part id, shot and ground truth of one cavity. A trigger or frame may carry per-cavity facts in
    `meta["cavities"][cavity_id]` ({"part_id": ..., "truth": ...}; the replay timeline does)."""
    trigger, frame = job.trigger, job.frame
    meta = (trigger.meta if trigger is not None and trigger.meta else None) or (frame.meta if frame else {})
    facts = meta.get("cavities", {}).get(cavity_id, {})
    part_id = facts.get("part_id", trigger.part_id if trigger else (frame.part_id if frame else None))
    shot = trigger.shot if trigger is not None and trigger.shot is not None else None
    if shot is None and frame is not None:
        shot = frame.shot
    return part_id, shot, facts.get("truth")
