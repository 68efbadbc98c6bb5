"""The threshold preview's trade-off table and saving a threshold into a real model's card."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import onnx
import pytest

from edge.pipeline.runner import load_checked
from edge.teach.threshold import at_threshold, operating_points, preview, save_threshold
from models.card import graph_sha256, load_sidecar, read_card


def _brute(scores: list[float], defective: list[bool], t: float) -> dict[str, int]:
    """The definition: NG when score >= t; an escape is a defective part passed, a false reject a good
    part not passed."""
    return {"escapes": sum(d and s < t for s, d in zip(scores, defective, strict=True)),
            "false_rejects": sum(not d and s >= t for s, d in zip(scores, defective, strict=True))}


def test_small_table_by_hand() -> None:
    scores = [0.1, 0.4, 0.4, 0.9]
    defective = [False, True, False, True]
    rows = operating_points(scores, defective)
    assert rows == [(0.1, 0, 2), (0.4, 0, 1), (0.9, 1, 0), (None, 2, 0)]
    assert at_threshold(rows, 0.0) == {"escapes": 0, "false_rejects": 2}  # everything NG
    assert at_threshold(rows, 0.4) == {"escapes": 0, "false_rejects": 1}  # 0.4 >= 0.4: both NG
    assert at_threshold(rows, 0.41) == {"escapes": 1, "false_rejects": 0}
    assert at_threshold(rows, 1.0) == {"escapes": 2, "false_rejects": 0}  # everything OK


def test_matches_the_definition_at_every_threshold() -> None:
    rng = random.Random(3)
    scores = [round(rng.random(), 2) for _ in range(300)]  # rounded: many ties
    defective = [rng.random() < 0.3 for _ in scores]
    rows = operating_points(scores, defective)
    for t in [i / 200 for i in range(201)] + scores:
        assert at_threshold(rows, t) == _brute(scores, defective, t), t
    shown = preview(scores, defective, 0.5)
    assert shown["n_ng"] == sum(defective) and shown["n_ok"] == 300 - sum(defective)
    assert {k: shown[k] for k in ("escapes", "false_rejects")} == _brute(scores, defective, 0.5)


def test_empty_and_mismatched_inputs() -> None:
    assert at_threshold(operating_points([], []), 0.5) == {"escapes": 0, "false_rejects": 0}
    with pytest.raises(ValueError, match="3 scores but 2 truths"):
        operating_points([0.1, 0.2, 0.3], [True, False])


def test_saving_a_threshold_rewrites_the_card_and_keeps_the_hash(tiny_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "candidate.onnx"
    shutil.copy(tiny_model, model)
    shutil.copy(tiny_model.with_name("tiny.card.json"), model.with_name("candidate.card.json"))
    before = read_card(model)
    previous = save_threshold(model, 0.37, "eng", {"escapes": 1, "false_rejects": 2})
    assert previous == before.threshold
    card = read_card(model)
    assert card.threshold == 0.37 and card.thresholds_per_class is None
    assert card.validation["threshold_set"]["who"] == "eng"
    assert card.validation["threshold_set"]["escapes"] == 1
    assert load_sidecar(model) == card  # the sidecar says the same
    assert card.sha256 == before.sha256 == graph_sha256(onnx.load(str(model)))
    load_checked(model)  # the runtime's own check still accepts it
    with pytest.raises(ValueError, match="between 0 and 1"):
        save_threshold(model, 1.5, "eng", {})
