"""Judge: thresholds (card, overridden by config), defect class, the deadline rule; Verdict validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.errors import ConfigError
from edge.pipeline.judge import Judge
from edge.verdict import Decision, ErrorCode, Verdict
from tests.tiny_model import tiny_card

# Columns: ok, short_shot, flash, black_spot
PROBS = np.array(
    [
        [0.90, 0.05, 0.03, 0.02],  # P(defect) 0.10, argmax defect short_shot
        [0.40, 0.10, 0.45, 0.05],  # P(defect) 0.60, flash
        [0.65, 0.05, 0.05, 0.25],  # P(defect) 0.35, black_spot
    ],
    np.float32,
)


def card_with(**changes: object):
    return tiny_card().model_copy(update=changes)


def test_card_threshold_decides_and_names_the_argmax_defect() -> None:
    scores = Judge.from_card(tiny_card(), deadline_ms=100).score(PROBS)  # card threshold 0.5
    np.testing.assert_allclose(scores.p_defect, [0.10, 0.60, 0.35], atol=1e-6)
    assert scores.ng.tolist() == [False, True, False]
    assert [tiny_card().class_names[i] for i in scores.defect_index] == ["short_shot", "flash", "black_spot"]


def test_threshold_precedence_config_defect_then_config_global_then_card_class_then_card() -> None:
    card = card_with(thresholds_per_class={"black_spot": 0.3})
    assert Judge.from_card(card, 100).score(PROBS).ng.tolist() == [False, True, True]
    # A config-wide threshold replaces the card's values, per-class ones included.
    assert Judge.from_card(card, 100, threshold=0.4).score(PROBS).ng.tolist() == [False, True, False]
    # A per-defect config value wins over everything for its defect.
    judge = Judge.from_card(card, 100, threshold=0.4, thresholds={"flash": 0.7, "short_shot": 0.05})
    assert judge.score(PROBS).ng.tolist() == [True, False, False]


def test_config_threshold_for_an_unknown_defect_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="flsh"):
        Judge.from_card(tiny_card(), 100, thresholds={"flsh": 0.2})


def test_rows_of_one_batch_follow_their_own_judge() -> None:
    """Judges on one card (the model section and two recipes) score a mixed batch row by row."""
    card = card_with(thresholds_per_class={"black_spot": 0.3})
    model = Judge.from_card(card, 100, threshold=0.4)
    lenient = Judge.from_card(card, 100, threshold=0.05, where="recipes.2")
    strict_flash = Judge.from_card(card, 100, thresholds={"flash": 0.7}, where="recipes.5")
    assert model.score(PROBS).ng.tolist() == [False, True, False]
    assert lenient.score(PROBS).ng.tolist() == [True, True, True]
    # Per-defect overrides resolve over the card: black_spot keeps the card's 0.3.
    assert strict_flash.score(PROBS).ng.tolist() == [False, False, True]
    mixed = model.score(PROBS, [lenient, strict_flash, model])
    assert mixed.ng.tolist() == [True, False, False]


def test_a_recipe_threshold_for_an_unknown_defect_names_the_recipe() -> None:
    with pytest.raises(ConfigError, match=r"recipes\.4\.thresholds names \['flsh'\]"):
        Judge.from_card(tiny_card(), 100, thresholds={"flsh": 1.0}, where="recipes.4")


def test_late_verdict_is_no_decision_whatever_the_model_said() -> None:
    judge = Judge.from_card(tiny_card(), deadline_ms=50)
    assert judge.decide(ng=False, total_ms=49.0) == (Decision.OK, ErrorCode.NONE)
    assert judge.decide(ng=True, total_ms=49.0) == (Decision.NG, ErrorCode.NONE)
    assert judge.decide(ng=False, total_ms=50.5) == (Decision.NO_DECISION, ErrorCode.DEADLINE_MISSED)


def verdict(**changes: object) -> Verdict:
    fields: dict = dict(seq=1, part_id=7, shot=3, cavity=2, frame_id=11, decision=Decision.NG, defect="flash",
                        score=0.8, error_code=ErrorCode.NONE, timings_ms={"total": 1.5}, t_trigger_s=1.0,
                        t_wall_s=2.0)
    return Verdict(**{**fields, **changes})


def test_verdict_json_carries_names_and_plc_codes() -> None:
    doc = json.loads(verdict().to_json())
    assert doc["decision"] == "NG" and doc["decision_code"] == 2 and doc["error_code"] == 0
    assert doc["cavity"] == 2 and doc["defect"] == "flash" and "evidence" not in doc


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decision": Decision.NO_DECISION}, "needs an error_code"),
        ({"decision": Decision.OK, "error_code": ErrorCode.MODEL_ERROR}, "cannot carry"),
        ({"score": 1.2}, r"\[0, 1\]"),
        ({"score": float("nan")}, r"\[0, 1\]"),
        ({"defect": None}, "defect class"),
        ({"cavity": 0}, "1-based"),
    ],
)
def test_inconsistent_verdicts_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verdict(**changes)
