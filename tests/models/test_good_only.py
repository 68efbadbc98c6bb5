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
from edge.pipeline.runner import ModelRunner
from models.card import read_card
from models.evaluate import evaluate_model
from models.features import session
from models.padim import fit_design_subspace, ledoit_wolf, remove_design
from models.padim_graph import EMBEDDING, embedding_graph

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


def test_design_subspace_removes_design_and_keeps_a_local_defect() -> None:
    # 200 "parts": a mean map plus 6 design patterns in random amounts plus a little noise.
    rng = np.random.default_rng(3)
    patterns = rng.normal(size=(6, 8, 10, 10)).astype(np.float32)
    def parts(n: int) -> np.ndarray:
        amounts = rng.normal(size=(n, 6)).astype(np.float32) * 3.0
        noise = rng.normal(size=(n, 8, 10, 10)).astype(np.float32) * 0.01
        return 1.0 + np.einsum("nk,kdhw->ndhw", amounts, patterns) + noise
    design = fit_design_subspace(parts(200), 6, seed=0)
    fresh = parts(5)
    spread = fresh.std()  # ~7: how much designs differ
    assert remove_design(fresh, design).std() < 0.02 * spread  # explained away (int8 components: ~1 %)
    defect = fresh.copy()
    defect[:, :, 4, 7] += 2.0  # one cell, every channel: local, not a mix of design patterns
    residual = remove_design(defect, design)
    elsewhere = np.delete(residual.reshape(5, 8, -1), 4 * 10 + 7, axis=2)
    assert residual[:, :, 4, 7].mean() > 1.5 and elsewhere.std() < 0.02 * spread


def test_grey_trunk_ignores_brightness() -> None:
    rng = np.random.default_rng(5)
    dim = rng.integers(10, 120, size=(1, 160, 160, 3), dtype=np.uint8)
    bright = dim * np.uint8(2)
    for grey in (True, False):
        extractor = session(embedding_graph(160, np.arange(0, 216, 9), grey=grey))
        dim_embedding, bright_embedding = (extractor.run([EMBEDDING], {"image": image})[0]
                                           for image in (dim, bright))
        difference = np.abs(bright_embedding - dim_embedding).max()
        assert difference < 1e-4 if grey else difference > 0.1  # the colour trunk does see it


def test_design_subspace_and_grey_through_the_cli(tmp_path: Path) -> None:
    data = write_parts(tmp_path / "good", 40, seed=2, classes=("ok",))
    out = tmp_path / "design.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(data), "--mode", "good-only", "--out", str(out), "--channels", "32",
                     "--design-components", "8", "--grey"]) == 0
    card = read_card(out)
    assert card.training["design_components"] == 8 and card.training["pixels"].startswith("grey")
    assert card.validation["onnx_vs_numpy_max_abs"] < 1e-3  # graph == numpy reference, design included
    result = evaluate_model(out, write_parts(tmp_path / "fresh", 15, seed=11), progress=False)
    assert result["auroc"] >= AUROC_FLOOR, result


def test_too_many_design_components_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_parts(tmp_path / "good", 10, seed=2, classes=("ok",))
    assert main(["train", str(data), "--mode", "good-only", "--out", str(tmp_path / "m.onnx"),
                 "--design-components", "50"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "50 design components" in err[0] and "--design-components" in err[0]


def test_shipped_simulator_model_is_intact_and_within_budget() -> None:
    shipped = Path(__file__).resolve().parents[2] / "models" / "default_good_only" / "sim_parts_good_v3.onnx"
    assert shipped.stat().st_size <= 25_000_000  # "<= 25 MB", read strictly
    with ModelRunner(shipped, warm_up=False) as runner:  # checks sha256, card and outputs
        training = runner.card.training
        assert training["mode"] == "good-only" and training["score_source"] == "local"
        assert training["design_components"] == 600 and training["pixels"].startswith("grey")
