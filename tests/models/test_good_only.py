"""Good-only training: zero defect images, the ONNX graph against its numpy reference, heatmaps, eval."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf as sklearn_ledoit_wolf
from synthetic_parts import write_parts

from edge.cli import main
from edge.runner import ModelRunner
from models.card import read_card
from models.evaluate import evaluate_model
from models.padim import ledoit_wolf

# The synthetic spots and notches are large: the model separates them fully; the floor leaves room
# for another seed without letting a broken graph (chance = 0.5) pass.
AUROC_FLOOR = 0.95


@pytest.fixture(scope="module")
def good_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    data = write_parts(tmp_path_factory.mktemp("good"), 40, seed=2, classes=("ok",))
    out = tmp_path_factory.mktemp("model") / "good.onnx"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["train", str(data), "--mode", "good-only", "--out", str(out), "--channels", "48",
                     "--json"]) == 0
    return out, json.loads(stdout.getvalue())


def test_ledoit_wolf_matches_sklearn() -> None:
    x = np.random.default_rng(0).normal(size=(3, 40, 12)) * np.linspace(0.1, 3.0, 12)
    mean, cov, shrinkage = ledoit_wolf(x)
    for loc in range(3):
        expected, expected_shrinkage = sklearn_ledoit_wolf(x[loc])
        np.testing.assert_allclose(cov[loc], expected, rtol=1e-10, atol=1e-12)
        assert shrinkage[loc] == pytest.approx(expected_shrinkage)
    np.testing.assert_allclose(mean, x.mean(axis=1))


def test_trains_with_zero_defect_images(good_only: tuple[Path, dict]) -> None:
    model, summary = good_only
    card = read_card(model)
    assert card.training["counts"] == {"ok": 40}
    assert card.training["mode"] == "good-only"
    assert [o.kind for o in card.outputs] == ["classifier", "heatmap", "anomaly_score"]
    assert card.class_names == ["ok", "anomaly"] and card.threshold == 0.5
    val = summary["validation"]
    assert val["n_defective"] == 0 and "0.995 quantile" in val["threshold_rule"]
    assert val["onnx_vs_numpy_max_abs"] < 1e-3  # checked at training, recorded in the card


def test_heatmap_shape_range_and_runner(good_only: tuple[Path, dict], tmp_path: Path) -> None:
    model, _ = good_only
    data = write_parts(tmp_path, 3, seed=9)
    with ModelRunner(model, max_batch=4) as runner:
        images = sorted(data.glob("*/*.png"))[:4]
        for slot, path in enumerate(images):
            runner.preprocess_into(slot, cv2.imread(str(path)))
        out = runner.infer(len(images))
        assert out.heatmap is not None and out.heatmap.shape == (4, 20, 20)
        assert out.heatmap.min() >= 0.0 and out.heatmap.max() <= 1.0
        assert out.anomaly_score is not None
        np.testing.assert_allclose(out.probs[:, 1], out.anomaly_score, atol=1e-6)
        np.testing.assert_allclose(out.probs.sum(axis=1), 1.0, atol=1e-6)


def test_eval_maps_every_defect_folder_and_writes_overlays(good_only: tuple[Path, dict],
                                                           tmp_path: Path) -> None:
    model, _ = good_only
    data = write_parts(tmp_path / "fresh", 15, seed=11)
    result = evaluate_model(model, data, progress=False)
    assert result["n_defective"] == 30 and result["auroc"] >= AUROC_FLOOR, result
    overlays = tmp_path / "overlays"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["eval", str(model), str(data), "--overlays", str(overlays)]) == 0
    written = sorted(p.relative_to(overlays).parts[0] for p in overlays.glob("*/*.jpg"))
    assert written == ["notch"] * 15 + ["ok"] * 15 + ["spot"] * 15


def test_shipped_simulator_model_is_intact_and_within_budget() -> None:
    shipped = Path(__file__).resolve().parents[2] / "models" / "default_good_only" / "sim_parts_good_v2.onnx"
    assert shipped.stat().st_size <= 25 * 2**20
    with ModelRunner(shipped, warm_up=False) as runner:  # checks sha256, card and outputs
        assert runner.card.training["mode"] == "good-only" and runner.card.training["score_source"] == "local"
