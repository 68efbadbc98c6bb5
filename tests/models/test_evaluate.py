"""Metrics on hand-built cases, threshold choice, and eval of an ONNX model whose outputs we control."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.metrics import roc_auc_score

from edge.cli import main
from models.card import ModelCard, save_model
from models.evaluate import auroc, metrics
from models.operating_point import choose_threshold, defects_needed, interval, upper_bound
from tests.tiny_model import tamper, write_noise_images

CLASSES = ["ok", "burn", "flash"]


def test_metrics_on_known_labels_and_scores() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    # P(defect) = 1 - probs[:, 0]: 0.1 0.2 0.6 0.3 | 0.9 0.4 0.8 0.7; threshold 0.5
    probs = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.7, 0.2, 0.1],
                      [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.1, 0.6]])
    m = metrics(labels, probs, 0.5, CLASSES)
    assert m["n"] == 8 and m["n_ok"] == 4 and m["n_defective"] == 4
    assert m["escapes"] == 1 and m["escape_rate"] == 0.25  # the burn at 0.4
    assert m["false_rejects"] == 1 and m["false_reject_rate"] == 0.25  # the ok at 0.6
    assert m["accuracy"] == 0.75
    # rows true, columns predicted; the flash at index 6 is NG but called burn
    assert m["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]
    assert m["class_accuracy"] == 5 / 8
    # 16 (defective, ok) pairs; the defective scores higher in all but one (0.4 < 0.6)
    assert m["auroc"] == pytest.approx(15 / 16)


def test_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    score = rng.integers(0, 5, 200) / 4.0  # many ties
    defective = rng.random(200) < 0.4
    assert auroc(defective, score) == pytest.approx(roc_auc_score(defective, score))
    assert auroc(np.zeros(3, bool), np.zeros(3)) is None


def test_threshold_allows_the_escapes_the_upper_bound_can_vouch_for() -> None:
    p_def = np.concatenate([np.linspace(0.3, 1.0, 1400), np.linspace(0.0, 0.2, 100)])
    defective = np.arange(1500) < 1400
    # 1,400 defects at a 0.5 % target: 2 escapes give a 95 % upper bound of 0.0049, 3 give 0.0056
    choice = choose_threshold(p_def, defective, 0.005)
    assert choice["resolved"] and not choice["capped"] and choice["defects_needed"] is None
    assert (p_def[defective] < choice["threshold"]).sum() == 2 == choice["escapes"]
    assert upper_bound(2, 1400) <= 0.005 < upper_bound(3, 1400)


def test_threshold_unverifiable_target_says_how_many_defects() -> None:
    p_def = np.array([0.9, 0.7, 0.8, 0.1, 0.2])
    choice = choose_threshold(p_def, np.array([True, True, True, False, False]), 0.005)
    assert not choice["resolved"]
    assert choice["threshold"] == 0.7  # the lowest defective score: zero escapes
    # zero escapes in n verify 0.5 % once 1 - 0.05 ** (1 / n) <= 0.005: n >= 598
    assert choice["defects_needed"] == 598 == defects_needed(0.0, 0.005)
    assert "cannot verify" in choice["note"] and "598" in choice["note"]
    assert choose_threshold(p_def, np.array([True, True, True, False, False]), 0.0)["threshold"] == 0.7


def test_false_reject_cap_raises_an_unverifiable_threshold() -> None:
    # 10 defects (cannot verify 0.5 %), the lowest at 0.05 below most good scores
    p_def = np.concatenate([np.linspace(0.05, 1.0, 10), np.linspace(0.0, 0.5, 100)])
    defective = np.arange(110) < 10
    loose = choose_threshold(p_def, defective, 0.005)
    assert loose["false_rejects"] == 90  # every good part above 0.05: what issue 18 complained of
    capped = choose_threshold(p_def, defective, 0.005, max_false_reject=0.05)
    assert capped["capped"] and capped["false_rejects"] == 5 and not capped["resolved"]
    assert capped["escapes"] == int((p_def[:10] < capped["threshold"]).sum()) > 0
    assert "--max-false-reject" in capped["note"]


def test_clopper_pearson_bounds() -> None:
    assert upper_bound(0, 598) <= 0.005 < upper_bound(0, 597)
    low, high = interval(3, 100)
    assert low == pytest.approx(0.00622, abs=1e-4) and high == pytest.approx(0.08518, abs=1e-4)
    assert interval(0, 0) == (0.0, 1.0)


def brightness_model(path: Path, size: int = 32) -> Path:
    """P(defect) = mean pixel / 255, split evenly between two defect classes; threshold 0.5."""
    nodes = [
        helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "axis1"], ["m1"]),  # [N, 1]
        helper.make_node("Div", ["m1", "c255"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Mul", ["p", "half"], ["ph"]),
        helper.make_node("Concat", ["q", "ph", "ph"], ["probs"], axis=1),
        helper.make_node("ReduceMean", ["x"], ["heatmap"], axes=[3], keepdims=0),
    ]
    inits = [numpy_helper.from_array(np.array(v, np.float32), n)
             for n, v in (("c255", 255.0), ("one", 1.0), ("half", 0.5))]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    graph = helper.make_graph(
        nodes, "brightness",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", size, size, 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", size, size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    card = ModelCard.model_validate({
        "name": "brightness",
        "input": {"name": "image", "shape": [None, size, size, 3], "resize": {"width": size, "height": size}},
        "outputs": [{"name": "probs", "kind": "classifier", "shape": [None, 3]},
                    {"name": "heatmap", "kind": "heatmap", "shape": [None, size, size]}],
        "class_names": ["good", "burn", "flash"], "ok_class": "good", "threshold": 0.5})
    onnx.checker.check_model(model)
    save_model(model, card, path)
    return path


def test_eval_of_a_model_with_known_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = brightness_model(tmp_path / "brightness.onnx")
    grey = {"good": [20, 40, 200], "burn": [220, 240, 100], "flash": [180]}  # pixel value per image
    for cls, values in grey.items():
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i, v in enumerate(values):
            cv2.imwrite(str(tmp_path / "data" / cls / f"{i}.png"), np.full((48, 48, 3), v, np.uint8))
    (tmp_path / "data" / "flash" / "bad.png").write_bytes(b"\x89PNG broken")
    assert main(["eval", str(model), str(tmp_path / "data"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["n"], r["n_ok"], r["n_defective"], r["unreadable"]) == (7, 3, 4, 1)
    assert r["unreadable_files"] == [str(tmp_path / "data" / "flash" / "bad.png")]
    assert r["escape_rate"] == pytest.approx(1 / 4)  # the burn at 100/255
    assert r["false_reject_rate"] == pytest.approx(1 / 3)  # the good at 200/255
    assert r["accuracy"] == pytest.approx(5 / 7)
    # P(burn) == P(flash): argmax takes the first defect class, burn
    assert r["confusion"] == [[2, 1, 0], [1, 2, 0], [0, 1, 0]]
    # 12 (defective, good) pairs; 100 ranks below 200/255 and 180 below 200: 10 of 12 in order
    assert r["auroc"] == pytest.approx(10 / 12)
    assert r["at_0_5"]["accuracy"] == r["accuracy"]  # the card's threshold is 0.5 here
    assert r["per_class"] == [{"class": "good", "n": 3, "at_threshold": 2 / 3, "at_0_5": 2 / 3},
                              {"class": "burn", "n": 3, "at_threshold": 2 / 3, "at_0_5": 2 / 3},
                              {"class": "flash", "n": 1, "at_threshold": 1.0, "at_0_5": 1.0}]
    assert r["readiness"]["verdict"] == "NOT READY" and r["readiness"]["basis"] == "eval"


def test_eval_prints_both_thresholds_per_class_and_the_verdict(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model = brightness_model(tmp_path / "brightness.onnx")
    for cls, values in {"good": [20, 40, 200], "burn": [220, 100]}.items():
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i, v in enumerate(values):
            cv2.imwrite(str(tmp_path / "data" / cls / f"{i}.png"), np.full((48, 48, 3), v, np.uint8))
    assert main(["eval", str(model), str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "at threshold" in out and "at P>=0.5" in out
    assert "burn" in out and "n=2" in out
    assert "Verdict: NOT READY (the 5 images given)" in out and "판정: 준비 안 됨" in out


def test_eval_refuses_a_tampered_model_as_run_does(tiny_model: Path, tmp_path: Path, capsys) -> None:
    """Issue 17: `eval` scored a model whose weights no longer matched its card."""
    tamper(tiny_model)
    data = tmp_path / "data"
    for cls in ("ok", "short_shot"):
        write_noise_images(data / cls, 2, seed=len(cls))
    assert main(["eval", str(tiny_model), str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tiny.onnx was modified after its card was written" in err
