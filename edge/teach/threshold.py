"""Threshold preview: escapes and false rejects of a candidate at any threshold, and saving one into its card.

From the candidate's validation scores (P(defect) of every hold-out image and footage part, with the
truth), `operating_points` builds the step table of the trade-off once: between two neighbouring scores
the counts do not change, so a row per distinct score answers every threshold. `at_threshold` reads it
(the page's slider does the same lookup in static/teach.js on the table embedded in the page, so the
page and this function cannot disagree). A part is NG when P(defect) >= threshold, as in
edge/pipeline/judge.py.

Saving rewrites the card, embedded and sidecar (models/card.py): `threshold` set, the per-class
thresholds dropped (the preview is on P(defect) for every class), and the choice recorded under
`validation.threshold_set`. The card is not part of the hashed graph, so sha256 stays valid.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx

from models.card import embed_card, embedded_card, write_sidecar

Row = tuple[float | None, int, int]  # (upper threshold, escapes, false rejects); None: above every score


def operating_points(scores: Sequence[float], defective: Sequence[bool]) -> list[Row]:
    """The step table: row k holds for thresholds t with u[k-1] < t <= u[k] (u: the sorted distinct
    scores), the last row (upper None) for t above every score."""
    if len(scores) != len(defective):
        raise ValueError(f"{len(scores)} scores but {len(defective)} truths")
    pairs = sorted(zip((float(s) for s in scores), (bool(d) for d in defective), strict=True))
    n_ok = sum(not d for _, d in pairs)
    rows: list[Row] = []
    escapes, false_rejects = 0, n_ok  # t at or below the lowest score: every part NG
    i = 0
    while i < len(pairs):
        upper = pairs[i][0]
        rows.append((upper, escapes, false_rejects))
        while i < len(pairs) and pairs[i][0] == upper:  # parts at this score pass once t exceeds it
            escapes += pairs[i][1]
            false_rejects -= not pairs[i][1]
            i += 1
    rows.append((None, escapes, false_rejects))
    return rows


def at_threshold(rows: Sequence[Row], threshold: float) -> dict[str, int]:
    """Escapes and false rejects at `threshold`, from `operating_points`' table."""
    uppers = [u for u, _, _ in rows[:-1]]
    _, escapes, false_rejects = rows[bisect.bisect_left(uppers, threshold)]
    return {"escapes": escapes, "false_rejects": false_rejects}


def preview(scores: Sequence[float], defective: Sequence[bool], threshold: float) -> dict[str, Any]:
    """What the page embeds: the table, the counts of each kind, and the card's threshold now."""
    rows = operating_points(scores, defective)
    n_ng = sum(bool(d) for d in defective)
    return {"rows": [[u, e, f] for u, e, f in rows], "n_ng": n_ng, "n_ok": len(defective) - n_ng,
            "threshold": threshold, **at_threshold(rows, threshold)}


def save_threshold(model_path: Path, threshold: float, who: str, figures: dict[str, Any]) -> float:
    """Write `threshold` into the card of `model_path` (embedded and sidecar, atomically replaced);
    returns the previous threshold. `figures`: what the preview showed, kept in the card."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"a threshold is between 0 and 1, got {threshold}")
    model = onnx.load(str(model_path))
    card = embedded_card(model, str(model_path))
    if card is None:
        raise ValueError(f"{model_path} has no model card")
    previous = card.threshold
    validation = {**card.validation, "threshold_set": {
        "threshold": threshold, "previous": previous, "who": who,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rule": "set by an engineer in the threshold preview",
        **figures}}
    changed = card.model_copy(update={"threshold": threshold, "thresholds_per_class": None,
                                      "validation": validation})
    embed_card(model, changed)
    temporary = model_path.with_name(model_path.name + ".saving")
    onnx.save(model, str(temporary))
    os.replace(temporary, model_path)  # a reader sees the old file or the new one, never half of one
    write_sidecar(changed, model_path)
    return previous
