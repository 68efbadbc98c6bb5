"""One inference lane: a runner and the steps that turn a batch of jobs into their verdicts.

Per batch a lane:

1. writes every cavity crop straight into its runner's preallocated input buffer (`preprocess_into`),
   runs the model once per `max_batch` crops, and scores the batch in one vectorised step (edge/judge.py),
   each row against the thresholds of its job's recipe (RECIPE_ID);
2. builds each job's verdicts, applying the deadline.

The pipeline (edge/pipeline/loop.py) runs each lane on its own thread and hands the verdicts to the
sinks. Nothing here does file or network I/O. Failures never escape: a crop that cannot be cut is
PREPROCESS_ERROR, a job whose recipe the station does not know is UNKNOWN_RECIPE (never run through
the model), a model that raises makes every part of its batch MODEL_ERROR, and a bug anywhere in
a batch makes its parts INTERNAL_ERROR, all NO_DECISION; every job still gets its verdicts.

`timings_ms["total"]` is stamped as late as it can be: after the evidence copies, just before the
Verdict objects are built and handed to the sinks, so it measures trigger -> verdict handed over (the
deadline is judged on that same figure).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edge.capture import Job
from edge.judge import Judge
from edge.pipeline.ratelog import worth_logging
from edge.pipeline.stats import Stats
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
    """What a lane needs of edge.runner.ModelRunner (a test may wrap one to inject faults)."""

    max_batch: int

    def preprocess_into(self, slot: int, image: np.ndarray, roi_xywh: RoiXywh | None = None) -> None: ...

    def infer(self, n: int) -> Any: ...


# Per crop: (P(defect), defect class index, NG, heatmap copy or None), or why there is no score.
CropResult = tuple[float, int, bool, np.ndarray | None] | ErrorCode


class Lane:
    """Owns one runner (and its buffers); used by one thread at a time."""

    def __init__(
        self, runner: Runner, judge: Judge, cavities: Sequence[Cavity], stats: Stats, wants_evidence: bool
    ) -> None:
        self.runner, self.judge, self.cavities, self.stats = runner, judge, tuple(cavities), stats
        self.wants_evidence = wants_evidence
        self._model_failures = 0
        self._unknown_recipes: set[int | None] = set()  # logged once each; every part is counted in Stats

    def answer(self, jobs: list[Job]) -> list[tuple[Verdict, ...]]:
        """The verdicts of each job (one per cavity), in job order; never raises."""
        try:
            return [self._verdicts(job, res, timings) for job, res, timings in self._infer(jobs)]
        except Exception:
            log.exception("pipeline bug while processing %d job(s); answering NO_DECISION", len(jobs))
            return [no_decision(job, self.cavities, ErrorCode.INTERNAL_ERROR, self.wants_evidence)
                    for job in jobs]

    def _infer(self, jobs: list[Job]) -> list[tuple[Job, list[CropResult], dict[str, float]]]:
        """Preprocess, run and score all crops of `jobs` in chunks of at most max_batch."""
        t_start_s = time.monotonic()
        # The Judge of each job's recipe, by job index; a job left out has a recipe the station lacks.
        judges = {j: judge for j, job in enumerate(jobs) if (judge := self._judge_of(job)) is not None}
        results: list[list[CropResult]] = [
            [ErrorCode.NONE if j in judges else ErrorCode.UNKNOWN_RECIPE] * len(self.cavities)
            for j in range(len(jobs))
        ]
        crops = [(j, c) for j, job in enumerate(jobs) if job.frame is not None and j in judges
                 for c in range(len(self.cavities))]
        spent_s = {"preprocess": 0.0, "infer": 0.0, "judge": 0.0}
        if crops:
            self.stats.record_batch(len(crops))
        for first in range(0, len(crops), self.runner.max_batch):
            self._infer_chunk(jobs, judges, crops[first:first + self.runner.max_batch], results, spent_s)
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

    def _judge_of(self, job: Job) -> Judge | None:
        """The Judge of the job's recipe; None (logged once per id) for a recipe the station lacks."""
        judge = self.judge.for_recipe(job.recipe_id)
        if judge is None and job.recipe_id not in self._unknown_recipes:
            self._unknown_recipes.add(job.recipe_id)
            log.warning("RECIPE_ID %s is not in station.yaml recipes (known: %s); its parts get "
                        "NO_DECISION / UNKNOWN_RECIPE", job.recipe_id, sorted(self.judge.recipes) or "none")
        return judge

    def _infer_chunk(
        self,
        jobs: list[Job],
        judges: dict[int, Judge],
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
            scores = self.judge.score(outputs.probs, [judges[j] for j, _ in slots])
        except Exception:
            self._model_failures += 1
            if worth_logging(self._model_failures):
                log.exception("model failed on a batch of %d (failure %d); those parts are NO_DECISION",
                              len(slots), self._model_failures)
            for j, c in slots:
                results[j][c] = ErrorCode.MODEL_ERROR
            spent_s["infer"] += time.monotonic() - t1
            return
        heatmaps = getattr(outputs, "heatmap", None) if self.wants_evidence else None
        for k, (j, c) in enumerate(slots):
            heatmap = heatmaps[k].copy() if heatmaps is not None else None  # the buffer is reused
            results[j][c] = (float(scores.p_defect[k]), int(scores.defect_index[k]), bool(scores.ng[k]),
                             heatmap)
        spent_s["infer"] += t2 - t1
        spent_s["judge"] += time.monotonic() - t2

    def _verdicts(
        self, job: Job, results: list[CropResult], timings: dict[str, float]
    ) -> tuple[Verdict, ...]:
        # Evidence copies of the parts that will be rejected first, then the stamp, then the cheap
        # Verdict objects. An OK part that turns NO_DECISION on the deadline is copied after the stamp:
        # it is late anyway.
        wanted = self.wants_evidence and job.frame is not None
        evidence = [_evidence(job, cavity, result) if wanted and _rejected(result) else None
                    for cavity, result in zip(self.cavities, results, strict=True)]
        timings["total"] = (time.monotonic() - job.t_trigger_s) * 1000.0
        verdicts = []
        for cavity, result, proof in zip(self.cavities, results, evidence, strict=True):
            if job.frame is None:
                result = job.error_code
            if isinstance(result, ErrorCode):
                decision, error, score, defect = Decision.NO_DECISION, result, None, None
            else:
                score, defect_index, ng, _ = result
                decision, error = self.judge.decide(ng, timings["total"])
                defect = self.judge.class_names[defect_index] if ng else None
                if wanted and proof is None and decision is Decision.NO_DECISION:
                    proof = _evidence(job, cavity, result)
            verdicts.append(_verdict(job, cavity, decision, error, score, defect, timings, proof))
        return tuple(verdicts)


def no_decision(
    job: Job, cavities: Sequence[Cavity], error: ErrorCode, wants_evidence: bool
) -> tuple[Verdict, ...]:
    """NO_DECISION for every cavity of a job that could not be processed at all."""
    wanted = wants_evidence and job.frame is not None
    evidence = [_evidence(job, c, error) if wanted else None for c in cavities]
    timings = {"total": (time.monotonic() - job.t_trigger_s) * 1000.0}
    return tuple(_verdict(job, c, Decision.NO_DECISION, error, None, None, timings, proof)
                 for c, proof in zip(cavities, evidence, strict=True))


def _rejected(result: CropResult) -> bool:
    """NG or no score: the part is rejected and its pixels go to the NG store."""
    return isinstance(result, ErrorCode) or result[2]


def _evidence(job: Job, cavity: Cavity, result: CropResult) -> Evidence:
    """Copies of the cavity crop and its heatmap (the frame and the runner's buffers are reused)."""
    assert job.frame is not None
    heatmap = None if isinstance(result, ErrorCode) else result[3]
    image = job.frame.image
    if cavity.roi_xywh is not None:
        x, y, w, h = cavity.roi_xywh
        image = image[y:y + h, x:x + w]
    return Evidence(image.copy(), heatmap, cavity.roi_xywh)


def _verdict(
    job: Job,
    cavity: Cavity,
    decision: Decision,
    error: ErrorCode,
    score: float | None,
    defect: str | None,
    timings: dict[str, float],
    evidence: Evidence | None = None,
) -> Verdict:
    part_id, shot, truth = _identity(job, cavity.id)
    return Verdict(
        seq=job.seq, part_id=part_id, shot=shot, cavity=cavity.id,
        frame_id=job.frame.frame_id if job.frame is not None else None,
        decision=decision, defect=defect, score=score, error_code=error, timings_ms=timings,
        t_trigger_s=job.t_trigger_s, t_wall_s=time.time(), truth=truth, evidence=evidence,
    )


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
