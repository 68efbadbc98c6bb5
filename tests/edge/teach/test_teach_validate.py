"""Validation for real: the shipped model (active) and a model trained on the new mold (candidate),
each run by `moldpilot eval` and `moldpilot replay` child processes on a labelled hold-out and on
simulator footage; the record side by side, the disagreements with their crops."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from edge.teach.validate import ValidationRunner, tally, validate
from models.card import read_card
from tests.edge.teach.teach_parts import SHIPPED, bezel_dataset
from tests.waiting import wait_until


def test_candidate_beside_the_active_model(bezel_model: Path, bezel_clip: Path, tmp_path: Path) -> None:
    known = set(read_card(bezel_model).class_names)
    holdout = bezel_dataset(tmp_path / "holdout", 40, seed=77, keep=known, min_per_class=1)
    record = validate(bezel_model, SHIPPED, tmp_path / "out", holdout, [bezel_clip])
    json.dumps(record)  # what save_validation stores: plain JSON
    n_images = sum(1 for _ in holdout.glob("*/*.png"))
    for side in ("candidate", "active"):
        figures = record[side]
        assert figures["holdout"]["parts"] == n_images
        assert figures["footage"]["parts"] == 16  # 4 shots x 4 cavities, each judged once
        assert set(figures["footage_per_cavity"]) == {"1", "2", "3", "4"}
        assert sum(c["parts"] for c in figures["footage_per_cavity"].values()) == 16
        assert sum(c["parts"] for c in figures["holdout_per_class"].values()) == n_images
        # the replay's and eval's own summaries agree with the per-part tallies
        replayed, mine = figures["footage_replay"][0], figures["footage"]
        assert replayed["scored_parts"] == 16 and replayed["ng_parts"] == mine["ng_parts"]
        assert round(replayed["escape_rate"] * mine["ng_parts"]) == mine["escapes"]
        assert figures["holdout_eval"]["escapes"] == figures["holdout"]["escapes"]
        assert figures["holdout_eval"]["false_rejects"] == figures["holdout"]["false_rejects"]
    assert record["candidate"]["model"] == str(bezel_model) and record["active"]["model"] == str(SHIPPED)
    assert len(record["scores"]) == n_images + 16  # the candidate's parts, for the threshold preview
    # every disagreement is a part the two judged differently, and its crop is on disk
    for row in record["disagreements"]:
        assert row["candidate"]["ng"] != row["active"]["ng"]
        assert row["right"] in ("candidate", "active")
    assert record["disagreement_images"] == min(60, len(record["disagreements"]))
    for row in record["disagreements"][:60]:
        image = cv2.imread(str(tmp_path / "out" / "disagree" / row["image"]))
        assert image is not None and image.shape[:2] == (160, 160)  # a hold-out crop or a cavity ROI


def test_tally_counts_escapes_and_false_rejects() -> None:
    parts = [{"truth": "ok", "ng": True, "cavity": 1}, {"truth": "ok", "ng": False, "cavity": 2},
             {"truth": "flash", "ng": False, "cavity": 1}, {"truth": "crack", "ng": True, "cavity": 2}]
    assert tally(parts) == {"parts": 4, "ng_parts": 2, "ok_parts": 2, "escapes": 1, "false_rejects": 1}
    assert tally(parts, "cavity")["1"] == {"parts": 2, "ng_parts": 1, "ok_parts": 1, "escapes": 1,
                                           "false_rejects": 1}


def test_a_failed_child_is_the_runner_state_not_a_crash(bezel_model: Path, tmp_path: Path) -> None:
    saved: dict[str, dict] = {}
    runner = ValidationRunner()
    runner.start("v2", bezel_model, SHIPPED, tmp_path / "out", tmp_path / "missing", (), saved.__setitem__)
    state = wait_until(lambda: (s := runner.state())["state"] != "running" and s, "the validation to end",
                       120)
    assert state["state"] == "failed" and "does not exist" in state["error"] and not saved
