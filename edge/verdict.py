"""The verdict on one part: what the line acts on and what every sink (PLC, MQTT, NG store, JSONL) gets.

One `Verdict` per part (a trigger on a 4-cavity mold yields four, one per cavity, handed to the sinks
together). `decision` carries the PLC code of HR 105 (1 OK, 2 NG, 3 NO_DECISION); a NO_DECISION always
says why in `error_code` (HR 108), so the PLC rejects the part (fail-safe) and a person can find the
cause. The table of error codes lives here and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np


class Decision(IntEnum):
    """What the line does with the part. Values are the PLC codes (DESIGN.md, HR 105 VERDICT)."""

    OK = 1
    NG = 2
    NO_DECISION = 3


class ErrorCode(IntEnum):
    """Why a part got NO_DECISION (HR 108 ERROR_CODE). 0 = no error. Codes are stable: append only."""

    NONE = 0
    DEADLINE_MISSED = 1  # trigger to verdict took longer than deadline_ms
    MODEL_ERROR = 2  # the model raised during inference; every part of that batch gets this
    NO_FRAME = 3  # the source had no frame for the trigger (camera lost, file ended first)
    TRIGGER_OVERRUN = 4  # the trigger could not be queued (the vision side is saturated)
    PREPROCESS_ERROR = 5  # the cavity ROI does not fit the frame, or the image is unusable
    INTERNAL_ERROR = 6  # a bug in the pipeline itself (logged with its traceback); the loop goes on
    RECORDING_ONLY = 7  # `moldpilot record` is capturing footage and judges nothing; the PLC rejects
    UNKNOWN_RECIPE = 8  # the trigger's RECIPE_ID (HR 4) is not in station.yaml `recipes:`; nothing judged
    HEALTH_FAULT = 9  # a health condition station.yaml makes fail safe is raised (camera moved, ...)


@dataclass(slots=True)
class Evidence:
    """Pixels behind an NG / NO_DECISION verdict, for the NG store. Never serialised with the verdict.

    `crop_bgr` is a copy of the cavity crop (H x W x 3 uint8), `heatmap` a copy of the model's coarse
    defect map [h, w] (None if the model has none or never ran), `roi_xywh` where the crop sits in the
    frame. Copies, because the frame and the runner's output buffers are reused.
    """

    crop_bgr: np.ndarray
    heatmap: np.ndarray | None
    roi_xywh: tuple[int, int, int, int] | None


# The stages a verdict's `timings_ms` may name, in pipeline order (the metrics count each).
STAGES = ("capture", "queue", "preprocess", "infer", "judge", "total")


@dataclass(slots=True)
class Verdict:
    """The result for one part (one cavity of one trigger).

    `seq` is the trigger's sequence number (free-run / every-frame: the frame id). `cavity` is 1-based;
    a station without cavity ROIs judges the whole frame as cavity 1. `score` is P(defect) = 1 - P(ok)
    in [0, 1], None when the model never produced one (model error, no frame). `defect` names the most
    likely defect class when the model said NG (kept on a deadline miss so the cause stays visible).
    `timings_ms` holds per-stage durations: queue (trigger/capture to start of processing),
    preprocess, infer, judge (of the batch this part ran in) and total (trigger to verdict).
    `t_trigger_s` is time.monotonic() of the trigger, `t_wall_s` time.time() when judged.
    `truth` is the ground-truth class ("ok" or a defect name) when known (replay of simulator footage).
    `recipe_id` is the trigger's RECIPE_ID (HR 4), whose model and thresholds judged the part; 0 (the
    model section) for a trigger without one. `defect` is a class name of that recipe's model card.
    `model_version` names the registry version (edge/registry) whose model judged it; None for a model
    outside any registry (a plain file, a recipe's own model).
    """

    seq: int
    part_id: int | None
    shot: int | None
    cavity: int
    frame_id: int | None
    decision: Decision
    defect: str | None
    score: float | None
    error_code: ErrorCode
    timings_ms: dict[str, float]
    t_trigger_s: float
    t_wall_s: float
    truth: str | None = None
    recipe_id: int = 0
    model_version: str | None = None
    evidence: Evidence | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.decision = Decision(self.decision)
        self.error_code = ErrorCode(self.error_code)
        if self.cavity < 1:
            raise ValueError(f"Verdict.cavity is 1-based, got {self.cavity}")
        if self.score is not None and not 0.0 <= self.score <= 1.0:  # also refuses NaN
            raise ValueError(f"Verdict.score is P(defect) in [0, 1], got {self.score}")
        if self.decision is Decision.NO_DECISION and self.error_code is ErrorCode.NONE:
            raise ValueError("a NO_DECISION verdict needs an error_code that says why, got NONE")
        if self.decision is not Decision.NO_DECISION:
            if self.error_code is not ErrorCode.NONE:
                raise ValueError(f"an {self.decision.name} verdict cannot carry error {self.error_code.name}")
            if self.score is None:
                raise ValueError(f"an {self.decision.name} verdict needs a score")
        if self.decision is Decision.NG and not self.defect:
            raise ValueError("an NG verdict needs the defect class")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; enums by name (plus the PLC code), evidence left out."""
        return {
            "seq": self.seq,
            "part_id": self.part_id,
            "shot": self.shot,
            "cavity": self.cavity,
            "frame_id": self.frame_id,
            "decision": self.decision.name,
            "decision_code": int(self.decision),
            "defect": self.defect,
            "score": None if self.score is None else round(self.score, 6),
            "error_code": int(self.error_code),
            "error": None if self.error_code is ErrorCode.NONE else self.error_code.name,
            "timings_ms": {stage: round(ms, 3) for stage, ms in self.timings_ms.items()},
            "t_trigger_s": self.t_trigger_s,
            "t_wall_s": self.t_wall_s,
            "truth": self.truth,
            "recipe_id": self.recipe_id,
            "model_version": self.model_version,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))
