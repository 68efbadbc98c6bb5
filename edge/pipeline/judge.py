"""Scores -> decision: thresholds from the model card, overridden by station.yaml, and the deadline.

P(defect) = 1 - P(ok). The defect class is the most probable class among the defect classes. A part is
NG when P(defect) >= the threshold that applies to its defect class. Which threshold applies, first
match wins:

1. `model.thresholds[defect]` in station.yaml (a site decision about one defect),
2. `model.threshold` in station.yaml (a site decision about all defects: replaces the card's values),
3. `thresholds_per_class[defect]` in the model card (chosen on validation data),
4. `threshold` in the model card.

The config layer sits wholly above the card layer because a person who edits station.yaml expects the
value they wrote to be the one in force. A verdict whose trigger-to-verdict time exceeds `deadline_ms`
is NO_DECISION with DEADLINE_MISSED, whatever the model said: the PLC has already moved on, and a late
OK must never pass a part (fail-safe).

Recipes (station.yaml `recipes:`, selected by the PLC's RECIPE_ID in HR 4) get a Judge each, built by
edge/pipeline/recipes.py: a recipe's `threshold` / `thresholds` are a complete alternative to the model
section's, resolved over the card of the recipe's own model in the same order (`where` names the
section in error messages). They do not stack on the model section, so a recipe's entry alone says
what it does. Judges on the same card can score one batch together, each row by its own (`score`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError
from edge.verdict import Decision, ErrorCode
from models.card import ModelCard


@dataclass(frozen=True, slots=True)
class BatchScores:
    """Per-row results of one batch: P(defect) [n], defect class index into class_names [n], NG [n]."""

    p_defect: np.ndarray
    defect_index: np.ndarray
    ng: np.ndarray


class Judge:
    """Vectorised thresholding of a batch of class probabilities, plus the deadline rule."""

    def __init__(
        self,
        class_names: list[str],
        ok_class: str,
        thresholds: Mapping[str, float],
        deadline_ms: float,
    ) -> None:
        """`thresholds` must name every defect class (use `from_card` to resolve them)."""
        missing = [c for c in class_names if c != ok_class and c not in thresholds]
        if missing:
            raise ValueError(f"no threshold for defect class(es) {missing}")
        if deadline_ms <= 0:
            raise ValueError(f"deadline_ms must be > 0, got {deadline_ms}")
        self.class_names = list(class_names)
        self.ok_index = self.class_names.index(ok_class)
        self.defect_indices = np.array([i for i, c in enumerate(class_names) if c != ok_class], np.intp)
        self.thresholds = {c: float(thresholds[c]) for c in class_names if c != ok_class}
        # Threshold per column of probs (the ok column gets +inf: it is never an argmax defect).
        self._threshold_by_index = np.array(
            [np.inf if i == self.ok_index else self.thresholds[c] for i, c in enumerate(class_names)],
            np.float32,
        )
        self.deadline_ms = float(deadline_ms)

    @classmethod
    def from_card(
        cls,
        card: ModelCard,
        deadline_ms: float,
        threshold: float | None = None,
        thresholds: Mapping[str, float] | None = None,
        where: str = "model",
    ) -> Judge:
        """Resolve the thresholds in the order of the module docstring; `threshold`/`thresholds` are the
        overrides of station.yaml section `where` (`model`, or `recipes.<id>` for a recipe)."""
        return cls(card.class_names, card.ok_class, _resolve(card, where, threshold, thresholds), deadline_ms)

    def score(self, probs: np.ndarray, row_judges: Sequence[Judge] | None = None) -> BatchScores:
        """probs [n, C] (columns in class_names order) -> P(defect), defect class, NG per row.

        `row_judges` names the Judge (recipe) whose thresholds apply to each row, for a batch that mixes
        recipes on the same model card; default: this one for every row. P(defect) and the class do
        not depend on it."""
        if probs.ndim != 2 or probs.shape[1] != len(self.class_names):
            raise ValueError(f"expected probs of shape (n, {len(self.class_names)}), got {probs.shape}")
        # Clip: float32 softmax can give P(ok) a hair above 1.
        p_defect = np.clip(1.0 - probs[:, self.ok_index], 0.0, 1.0)
        defect_index = self.defect_indices[np.argmax(probs[:, self.defect_indices], axis=1)]
        if row_judges is None:
            limits = self._threshold_by_index[defect_index]
        else:
            table = np.stack([j._threshold_by_index for j in row_judges])  # [n, C]
            limits = table[np.arange(len(defect_index)), defect_index]
        ng = p_defect >= limits
        return BatchScores(p_defect, defect_index, ng)

    def decide(self, ng: bool, total_ms: float) -> tuple[Decision, ErrorCode]:
        """The decision sent to the line, given the model's NG flag and the trigger-to-verdict time."""
        if total_ms > self.deadline_ms:
            return Decision.NO_DECISION, ErrorCode.DEADLINE_MISSED
        return (Decision.NG if ng else Decision.OK), ErrorCode.NONE


def _resolve(
    card: ModelCard, where: str, threshold: float | None, thresholds: Mapping[str, float] | None
) -> dict[str, float]:
    """One threshold per defect class, in the order of the module docstring. `where` names the
    station.yaml section the overrides come from, for the error message."""
    defects = [c for c in card.class_names if c != card.ok_class]
    overrides = dict(thresholds or {})
    unknown = sorted(set(overrides) - set(defects))
    if unknown:
        raise ConfigError(
            f"{where}.thresholds names {unknown}, which model {card.name!r} does not know; "
            f"its defect classes are {defects}"
        )
    per_class = card.thresholds_per_class or {}
    resolved = {}
    for defect in defects:
        if defect in overrides:
            resolved[defect] = overrides[defect]
        elif threshold is not None:
            resolved[defect] = threshold
        else:
            resolved[defect] = per_class.get(defect, card.threshold)
    return resolved
