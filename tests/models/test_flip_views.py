"""Flip averaging inside the graph (models/flip_views.py), on the shipped default model: its `probs` are
the mean of its one-view network over four mirror images; unwrapping gives that network back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from models.card import graph_sha256
from models.features import session
from models.flip_views import average_flips, one_view_of
from sim.dataset import render_item

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "default" / "sim_parts_v2.onnx"


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    # Defective and good parts of every shape (items 0..11 of a fresh seed).
    return np.stack([render_item(424242, i)[0] for i in range(12)])


def test_shipped_model_averages_four_mirror_images(crops: np.ndarray) -> None:
    shipped = onnx.load(str(DEFAULT_MODEL))
    one_view = one_view_of(shipped)
    assert len(one_view.graph.node) < len(shipped.graph.node)  # the shipped graph is wrapped
    single = session(one_view, 1)
    views = [crops, crops[:, :, ::-1], crops[:, ::-1], crops[:, ::-1, ::-1]]
    per_view = [single.run(None, {"image": np.ascontiguousarray(v)}) for v in views]
    # The network is not flip-invariant, so the average is a real change (this test could fail).
    assert np.abs(per_view[0][0] - per_view[1][0]).max() > 1e-3
    probs, heatmap = session(shipped, 1).run(None, {"image": crops})
    np.testing.assert_allclose(probs, np.mean([p for p, _ in per_view], axis=0), atol=1e-5)
    np.testing.assert_allclose(heatmap, per_view[0][1], atol=1e-6)  # the as-is view's map


def test_unwrap_and_wrap_again_gives_the_same_graph() -> None:
    shipped = onnx.load(str(DEFAULT_MODEL))
    one_view = one_view_of(shipped)
    assert graph_sha256(one_view_of(average_flips(one_view))) == graph_sha256(one_view)
    assert graph_sha256(average_flips(one_view)) == graph_sha256(shipped)  # the card is not part of it


def test_batch_of_one_and_odd_batches(crops: np.ndarray) -> None:
    sess = session(onnx.load(str(DEFAULT_MODEL)), 1)
    whole = sess.run(["probs"], {"image": crops[:5]})[0]
    for i in range(5):
        np.testing.assert_allclose(sess.run(["probs"], {"image": crops[i:i + 1]})[0][0], whole[i], atol=1e-5)
