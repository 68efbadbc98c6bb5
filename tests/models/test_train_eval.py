"""Train on a small synthetic dataset through the CLI, then evaluate the model on fresh images."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from edge.cli import main
from models.card import graph_sha256, load_sidecar, read_card
from models.features import run_images, session
from models.graph import feature_graph, model_graph, tap_channels, tap_weight
from models.selection import candidate_shapes
from tests.models.synthetic_parts import draw_part, write_parts

# Stated floors: these parts have clear defects; the trained model reaches 1.0 on them, the floor
# leaves room for a changed seed without letting a broken pipeline (chance = 0.33 / 0.5) pass.
ACCURACY_FLOOR = 0.9
AUROC_FLOOR = 0.95


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    data = write_parts(tmp_path_factory.mktemp("parts"), 30, seed=1)
    broken = data / "ok" / "broken.png"
    broken.write_bytes(b"not a png")
    out = tmp_path_factory.mktemp("model") / "parts.onnx"
    stdout = io.StringIO()  # capsys is per test; this fixture trains once per module
    with contextlib.redirect_stdout(stdout):
        assert main(["train", str(data), "--out", str(out), "--seed", "3", "--json"]) == 0
    return out, json.loads(stdout.getvalue()), broken


def test_train_summary_card_and_unreadable_file(trained: tuple[Path, dict, Path]) -> None:
    model, summary, broken = trained
    assert summary["unreadable_files"] == [str(broken)]  # listed
    assert summary["training"]["unreadable"] == 1  # counted
    assert summary["training"]["counts"] == {"ok": 30, "notch": 30, "spot": 30}  # skipped
    assert summary["validation"]["accuracy"] >= ACCURACY_FLOOR
    card = read_card(model)
    assert card == load_sidecar(model)
    assert card.sha256 == graph_sha256(onnx.load(str(model)))
    assert card.class_names == ["ok", "notch", "spot"] and card.ok_class == "ok"
    assert card.threshold == pytest.approx(summary["threshold"])
    height, width = card.training["selection"]["height_width"]  # chosen by CV (models/selection.py)
    assert height == width and height in (160, 224, 320)  # square images: squares only
    assert card.training["selection"]["candidates"]
    assert card.input.name == "image" and card.input.shape == [None, height, width, 3]
    assert card.training["latency_ms_per_crop_1_thread"] > 0
    # the threshold comes from out-of-fold scores of every readable training image
    assert card.validation["n"] == 90 and "5-fold" in card.validation["basis"]
    assert card.provenance["weights"] == "mobilenet_v2-b0353104.pth"
    assert "BSD-3-Clause" in card.provenance["licence"]


def test_model_outputs_follow_the_contract(trained: tuple[Path, dict, Path],
        tmp_path: Path) -> None:
    model, _, _ = trained
    data = write_parts(tmp_path, 4, 5)
    paths = sorted(data.glob("*/*.png"))
    sess = session(model)
    size = read_card(model).input.height_width[0]
    probs, _ = run_images(sess, paths, size, output="probs", progress=False)
    heat, _ = run_images(sess, paths, size, output="heatmap", progress=False)
    cells = -(-size // 16)
    assert probs.shape == (1, 12, 3) and np.allclose(probs[0].sum(axis=1), 1.0, atol=1e-5)
    assert heat.shape == (1, 12, cells, cells) and heat.min() >= 0.0 and heat.max() <= 1.0
    p_defect = 1.0 - probs[0, :, 0]
    # the map is scaled by P(defect): its peak never exceeds it
    assert np.all(heat[0].max(axis=(1, 2)) <= p_defect + 1e-5)


def test_eval_end_to_end_on_fresh_images(trained: tuple[Path, dict, Path],
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    model, _, _ = trained
    fresh = write_parts(tmp_path, 15, 99)
    assert main(["eval", str(model), str(fresh), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 45 and result["n_defective"] == 30
    assert result["accuracy"] >= ACCURACY_FLOOR and result["auroc"] >= AUROC_FLOOR
    assert np.array(result["confusion"]).sum() == 45
    assert set(result) >= {"n", "accuracy", "escape_rate", "false_reject_rate", "auroc", "confusion"}


def test_model_graph_equals_features_times_head(tmp_path: Path) -> None:
    """The shipped graph computes softmax(features @ W.T + b) on the features the trainer saw."""
    paths = sorted(write_parts(tmp_path, 2, 7).glob("*/*.png"))
    features, _ = run_images(session(feature_graph(96)), paths, 96, progress=False)
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.05, (3, features.shape[-1])).astype(np.float32)
    bias = rng.normal(0, 0.1, 3).astype(np.float32)
    probs, _ = run_images(session(model_graph(96, weight, bias)), paths, 96, output="probs",
                          progress=False)
    logits = features[0] @ weight.T + bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.abs(probs[0] - expected).max() < 1e-5


def test_heatmap_weights_sum_every_pooling_of_the_deep_tap() -> None:
    """tap_weight reads the avg, max and four quadrant columns of a tap and nothing else."""
    channels = tap_channels()
    total, before = sum(channels), sum(channels[:3])
    features = session(feature_graph(96)).run(None, {"image": np.zeros((1, 96, 96, 3), np.uint8)})[0]
    assert features.shape == (1, 6 * total)  # avg + max + 4 quadrants per channel
    weight = np.zeros((2, 6 * total), np.float32)
    for start, per in ((before, 1), (total + before, 1), (2 * total + 4 * before, 4)):
        weight[1, start:start + per * channels[3]] = 1.0
    assert np.all(tap_weight(weight, 3)[1] == 6.0) and not tap_weight(weight, 3)[0].any()
    assert not tap_weight(weight, 2).any()


def test_too_few_defects_cannot_verify_and_is_not_ready(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """8 defect images cannot show a 0.5 % escape rate: train says so, in both languages, and the card too."""
    data = write_parts(tmp_path / "data", 8, seed=4, classes=("ok", "spot"))
    for i in range(8, 30):  # more good parts than defects, as on a real line
        cv2.imwrite(str(data / "ok" / f"{i:03d}.png"), draw_part(np.random.default_rng(i), "ok"))
    out = tmp_path / "few.onnx"
    assert main(["train", str(data), "--out", str(out), "--size", "96"]) == 0
    printed = capsys.readouterr().out
    assert "Cannot verify the escape target of 0.50 %: 8 defect photos are too few" in printed
    assert "Verdict: NOT READY" in printed and "판정: 준비 안 됨" in printed
    assert "about 598 are needed (590 more)" in printed and "more photos of spot" in printed
    card = read_card(out)
    verdict = card.validation["readiness"]
    assert verdict["verdict"] == "NOT READY" and not verdict["escape_verified"]
    assert verdict["defects_needed"] == 598 and verdict["collect"][0]["class"] == "spot"
    assert "cannot verify" in card.validation["threshold_note"]
    assert card.validation["false_reject_rate"] <= 0.01  # the cap, not "reject most good parts"


def test_oblong_inputs_get_candidates_of_their_aspect_and_a_working_graph(tmp_path: Path) -> None:
    assert candidate_shapes((160, 224), 1.0) == [[(160, 160), (224, 224)]]
    assert candidate_shapes((160, 224), 2.5) == [[(160, 160), (224, 224)], [(400, 160), (560, 224)]]
    assert candidate_shapes((160,), 0.4)[1] == [(160, 400)]  # wide images: wide inputs
    paths = sorted(write_parts(tmp_path, 2, 7).glob("*/*.png"))
    features, _ = run_images(session(feature_graph((96, 48))), paths, (96, 48), progress=False)
    weight = np.random.default_rng(0).normal(0, 0.05, (3, features.shape[-1])).astype(np.float32)
    sess = session(model_graph((96, 48), weight, np.zeros(3, np.float32)))
    heat, _ = run_images(sess, paths, (96, 48), output="heatmap", progress=False)
    assert features.shape[-1] == 6 * sum(tap_channels()) and heat.shape == (1, 6, 6, 3)
