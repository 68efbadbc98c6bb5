"""The readiness verdict from counts: READY only when the counts vouch for the targets; both languages."""

from __future__ import annotations

import numpy as np

from models.readiness import readiness, readiness_text

CLASSES = ["ok", "crack", "spot"]


def verdict(n_ok: int, per_defect: dict[int, tuple[int, int]], false_rejects: int = 0) -> dict:
    """labels / scores with `missed` of `n` defects of each class below the 0.5 threshold."""
    labels = [np.zeros(n_ok, np.int64)]
    scores = [np.r_[np.ones(false_rejects), np.zeros(n_ok - false_rejects)]]
    for label, (n, missed) in per_defect.items():
        labels.append(np.full(n, label))
        scores.append(np.r_[np.zeros(missed), np.ones(n - missed)])
    return readiness(np.concatenate(labels), np.concatenate(scores), 0.5, CLASSES, 0.005, 0.05)


def test_enough_defects_and_no_escape_is_ready() -> None:
    r = verdict(500, {1: (400, 0), 2: (300, 0)})
    assert r["ready"] and r["verdict"] == "READY" and r["collect"] == []
    assert r["escape"]["upper_95"] <= 0.005
    assert r["text"]["en"][0].startswith("Verdict: READY") and r["text"]["ko"][0].startswith("판정: 준비됨")


def test_escapes_name_the_weakest_class_and_what_to_collect() -> None:
    r = verdict(500, {1: (80, 4), 2: (300, 0)})  # 4 of 380 pass: 1.05 % > 0.5 %
    assert r["verdict"] == "NOT READY" and r["defects_needed"] is None
    assert r["weakest_classes"] == [{"class": "crack", "missed": 4, "of": 80}]
    assert r["collect"] == [{"class": "crack", "more": 80}]
    text = readiness_text(r)
    assert "add about 80 more photos of crack" in text and "crack 사진 약 80장" in text
    assert "95 % range" in text and "95 % 범위" in text


def test_too_many_false_rejects_is_not_ready() -> None:
    r = verdict(200, {1: (400, 0), 2: (300, 0)}, false_rejects=30)
    assert r["escape_verified"] and not r["ready"]
    assert any("Too many good parts rejected" in line for line in r["text"]["en"])


def test_no_defect_photos_asks_for_defects_of_any_kind() -> None:
    r = readiness(np.zeros(50, np.int64), np.zeros(50), 0.5, ["ok", "anomaly"], 0.005, 0.05, basis="val")
    assert r["verdict"] == "NOT READY" and r["defects_needed"] == 598
    assert "defects of any kind" in readiness_text(r) and "불량(종류 무관)" in readiness_text(r)
