"""One inference lane: its runners (one per model file, edge/pipeline/recipes.py) and the steps that
turn a batch of jobs into their verdicts.

Per batch a lane:

1. looks up each job's recipe (RECIPE_ID): the model that judges it and its thresholds;
2. per model, writes every cavity crop straight into that runner's preallocated input buffer
   (`preprocess_into`), runs the model once per `max_batch` crops, and scores them in one vectorised
   step (edge/pipeline/judge.py), each row against the thresholds of its job's recipe;
3. builds each job's verdicts, applying the deadline.

The pipeline (edge/pipeline/loop.py) runs each lane on its own thread and hands the verdicts to the
sinks. Nothing here does file or network I/O. Failures never escape: a crop that cannot be cut is
PREPROCESS_ERROR, a job whose RECIPE_ID the station does not know is UNKNOWN_RECIPE (never run through
a model), a model that raises makes every part of its batch MODEL_ERROR, and a bug anywhere in
a batch makes its parts INTERNAL_ERROR, all NO_DECISION; every job still gets its verdicts.

`timings_ms["total"]` is stamped as late as it can be: after the evidence copies, just before the
Verdict objects are built and handed to the sinks, so it measures trigger -> verdict handed over (the
deadline is judged on that same figure).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edge.pipeline.capture import Job
from edge.pipeline.gate import FailSafeGate
from edge.pipeline.judge import Judge
from edge.pipeline.recipes import Recipe, RecipeBook, RoiXywh, Runner
from edge.pipeline.stats import Stats
from edge.verdict import Decision, ErrorCode, Evidence, Verdict
from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cavity:
    """One cavity of the mold: its 1-based id and its ROI in frame pixels (None = the whole frame)."""

    id: int
    roi_xywh: RoiXywh | None = None


WHOLE_FRAME = (Cavity(1, None),)


# Per crop: (P(defect), defect class index, NG, heatmap copy or None), or why there is no score.
CropResult = tuple[float, int, bool, np.ndarray | None] | ErrorCode
# A crop to run: (job index, cavity index, the Judge of the job's recipe).
Crop = tuple[int, int, Judge]
# A job after inference: its recipe (None: a RECIPE_ID the station lacks), crop results and timings.
Inferred = tuple[Job, Recipe | None, list[CropResult], dict[str, float]]


class Lane:
    """Owns one runner per model file (and their buffers); used by one thread at a time."""

    def __init__(
        self, recipes: RecipeBook, cavities: Sequence[Cavity], stats: Stats, wants_evidence: bool,
        gate: FailSafeGate | None = None, ok_share: Callable[[int], float] | None = None,
    ) -> None:
        """`ok_share(cavity)`: the share of OK parts whose evidence is copied too (the review sample)."""
        self.recipes, self.cavities, self.stats = recipes, tuple(cavities), stats
        self.wants_evidence = wants_evidence
        self.ok_share = ok_share
        self._draw = random.Random().random  # one draw per OK part when a share is asked for
        self.gate = gate
        self._model_failures = 0
        self._unknown_recipes: set[int | None] = set()  # logged once each; every part is counted in Stats

    def answer(self, jobs: list[Job]) -> list[tuple[Verdict, ...]]:
        """The verdicts of each job (one per cavity), in job order; never raises."""
        if self.gate is not None and self.gate.reason is not None:  # fail safe: see edge/pipeline/gate.py
            return [no_decision(job, self.cavities, ErrorCode.HEALTH_FAULT, self.wants_evidence,
                                self.recipes.version_of(job.recipe_id)) for job in jobs]
        try:
            return [self._verdicts(job, recipe, res, timings)
                    for job, recipe, res, timings in self._infer(jobs)]
        except Exception:
            log.exception("pipeline bug while processing %d job(s); answering NO_DECISION", len(jobs))
            return [no_decision(job, self.cavities, ErrorCode.INTERNAL_ERROR, self.wants_evidence,
                                self.recipes.version_of(job.recipe_id)) for job in jobs]

    def _infer(self, jobs: list[Job]) -> list[Inferred]:
        """Preprocess, run and score all crops of `jobs`, per model in chunks of at most max_batch."""
        t_start_s = time.monotonic()
        recipes = [self._recipe_of(job) for job in jobs]  # None: a RECIPE_ID the station lacks
        results: list[list[CropResult]] = [
            [ErrorCode.NONE if recipe is not None else ErrorCode.UNKNOWN_RECIPE] * len(self.cavities)
            for recipe in recipes
        ]
        spent_s = {"preprocess": 0.0, "infer": 0.0, "judge": 0.0}
        for runner in self.recipes.runners:  # one pass for a station whose recipes share its model
            crops = [(j, c, recipe.judge) for j, (job, recipe) in enumerate(zip(jobs, recipes, strict=True))
                     if job.frame is not None and recipe is not None and recipe.runner is runner
                     for c in range(len(self.cavities))]
            for first in range(0, len(crops), runner.max_batch):
                self._infer_chunk(runner, jobs, crops[first:first + runner.max_batch], results, spent_s)
        batch_ms = {stage: s * 1000.0 for stage, s in spent_s.items()}
        out = []
        for job, recipe, job_results in zip(jobs, recipes, results, strict=True):
            t_trigger_s = job.t_trigger_s
            t_ready_s = max(t_trigger_s, job.frame.t_capture) if job.frame is not None else t_trigger_s
            timings = {
                "capture": max(0.0, t_ready_s - t_trigger_s) * 1000.0,
                "queue": max(0.0, t_start_s - t_ready_s) * 1000.0,
                **batch_ms,
            }
            out.append((job, recipe, job_results, timings))
        return out

    def _recipe_of(self, job: Job) -> Recipe | None:
        """The recipe of the job's RECIPE_ID; None (logged once per id) for a recipe the station lacks."""
        recipe = self.recipes.select(job.recipe_id)
        if recipe is None and job.recipe_id not in self._unknown_recipes:
            self._unknown_recipes.add(job.recipe_id)
            log.warning("RECIPE_ID %s is not in station.yaml recipes (known: %s); its parts get "
                        "NO_DECISION / UNKNOWN_RECIPE", job.recipe_id, self.recipes.ids or "none")
        return recipe

    def _infer_chunk(
        self,
        runner: Runner,
        jobs: list[Job],
        chunk: list[Crop],
        results: list[list[CropResult]],
        spent_s: dict[str, float],
    ) -> None:
        """One model call on crops whose recipes all use `runner`."""
        t0 = time.monotonic()
        slots: list[Crop] = []
        for j, c, judge in chunk:
            frame = jobs[j].frame
            assert frame is not None
            try:
                runner.preprocess_into(len(slots), frame.image, self.cavities[c].roi_xywh)
                slots.append((j, c, judge))
            except Exception as exc:  # ROI outside this frame, unusable image: this part only
                results[j][c] = ErrorCode.PREPROCESS_ERROR
                log.warning("cavity %d of frame %d cannot be cut: %s",
                            self.cavities[c].id, frame.frame_id, exc)
        t1 = time.monotonic()
        spent_s["preprocess"] += t1 - t0
        if not slots:
            return
        self.stats.record_batch(len(slots))
        try:
            outputs = runner.infer(len(slots))
            t2 = time.monotonic()
            row_judges = [judge for _, _, judge in slots]
            scores = row_judges[0].score(outputs.probs, row_judges)  # one model: one card, same columns
        except Exception:
            self._model_failures += 1
            if worth_logging(self._model_failures):
                log.exception("model failed on a batch of %d (failure %d); those parts are NO_DECISION",
                              len(slots), self._model_failures)
            for j, c, _ in slots:
                results[j][c] = ErrorCode.MODEL_ERROR
            spent_s["infer"] += time.monotonic() - t1
            return
        heatmaps = getattr(outputs, "heatmap", None) if self.wants_evidence else None
        for k, (j, c, _) in enumerate(slots):
            heatmap = heatmaps[k].copy() if heatmaps is not None else None  # the buffer is reused
            results[j][c] = (float(scores.p_defect[k]), int(scores.defect_index[k]), bool(scores.ng[k]),
                             heatmap)
        spent_s["infer"] += t2 - t1
        spent_s["judge"] += time.monotonic() - t2

    def _verdicts(
        self, job: Job, recipe: Recipe | None, results: list[CropResult], timings: dict[str, float]
    ) -> tuple[Verdict, ...]:
        # Evidence copies of the parts that will be rejected first, then the stamp, then the cheap
        # Verdict objects. An OK part that turns NO_DECISION on the deadline is copied after the stamp:
        # it is late anyway; so is an OK part drawn for review, which must not delay the PLC.
        wanted = self.wants_evidence and job.frame is not None
        evidence = [_evidence(job, cavity, result) if wanted and _rejected(result) else None
                    for cavity, result in zip(self.cavities, results, strict=True)]
        timings["total"] = (time.monotonic() - job.t_trigger_s) * 1000.0
        version = recipe.version if recipe is not None else None
        verdicts = []
        for cavity, result, proof in zip(self.cavities, results, evidence, strict=True):
            if job.frame is None:
                result = job.error_code
            if isinstance(result, ErrorCode):
                decision, error, score, defect = Decision.NO_DECISION, result, None, None
            else:
                assert recipe is not None  # scored, so its recipe is known
                score, defect_index, ng, _ = result
                decision, error = recipe.judge.decide(ng, timings["total"])
                defect = recipe.judge.class_names[defect_index] if ng else None
                if wanted and proof is None and (decision is Decision.NO_DECISION or (
                        decision is Decision.OK and self._sampled(cavity.id))):
                    proof = _evidence(job, cavity, result)
            verdicts.append(_verdict(job, cavity, decision, error, score, defect, timings, proof, version))
        return tuple(verdicts)


    def _sampled(self, cavity_id: int) -> bool:
        """Whether this OK part's crop is copied for review: a random draw against the asked share."""
        if self.ok_share is None:
            return False
        share = self.ok_share(cavity_id)
        return share > 0.0 and (share >= 1.0 or self._draw() < share)


def no_decision(
    job: Job, cavities: Sequence[Cavity], error: ErrorCode, wants_evidence: bool,
    model_version: str | None = None,
) -> tuple[Verdict, ...]:
    """NO_DECISION for every cavity of a job that could not be processed at all; `model_version`: the
    version that would have judged it."""
    wanted = wants_evidence and job.frame is not None
    evidence = [_evidence(job, c, error) if wanted else None for c in cavities]
    timings = {"total": (time.monotonic() - job.t_trigger_s) * 1000.0}
    return tuple(_verdict(job, c, Decision.NO_DECISION, error, None, None, timings, proof, model_version)
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
    model_version: str | None = None,
) -> Verdict:
    part_id, shot, truth = _identity(job, cavity.id)
    return Verdict(
        seq=job.seq, part_id=part_id, shot=shot, cavity=cavity.id,
        frame_id=job.frame.frame_id if job.frame is not None else None,
        decision=decision, defect=defect, score=score, error_code=error, timings_ms=timings,
        t_trigger_s=job.t_trigger_s, t_wall_s=time.time(), truth=truth, recipe_id=job.recipe_id or 0,
        model_version=model_version, evidence=evidence,
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
