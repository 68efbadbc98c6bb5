"""Flip averaging inside the graph (models/flip_views.py), on the shipped default model's network: the
wrapped `probs` are the mean of the network over the mirror images; unwrapping gives the network back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from models.card import graph_sha256
from models.features import session
from models.flip_views import VIEWS, average_flips, one_view_of
from sim.dataset import render_item

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "models" / "default"
DEFAULT_MODEL = next(iter(sorted(DEFAULT_DIR.glob("*.onnx"))))


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    # Defective and good parts of every shape (items 0..11 of a fresh seed).
    return np.stack([render_item(424242, i)[0] for i in range(12)])


@pytest.fixture(scope="module")
def network() -> onnx.ModelProto:
    return one_view_of(onnx.load(str(DEFAULT_MODEL)))


def _unused_initializers(model: onnx.ModelProto) -> set[str]:
    used = {name for node in model.graph.node for name in node.input}
    return {i.name for i in model.graph.initializer} - used


def test_four_views_average_the_networks_mirror_images(crops: np.ndarray, network: onnx.ModelProto) -> None:
    four = average_flips(network, views=VIEWS)
    assert len(network.graph.node) < len(four.graph.node)
    single = session(network, 1)
    views = [crops, crops[:, :, ::-1], crops[:, ::-1], crops[:, ::-1, ::-1]]
    per_view = [single.run(None, {"image": np.ascontiguousarray(v)}) for v in views]
    # The network is not flip-invariant, so the average is a real change (this test could fail).
    assert np.abs(per_view[0][0] - per_view[1][0]).max() > 1e-3
    probs, heatmap = session(four, 1).run(None, {"image": crops})
    np.testing.assert_allclose(probs, np.mean([p for p, _ in per_view], axis=0), atol=1e-5)
    np.testing.assert_allclose(heatmap, per_view[0][1], atol=1e-6)  # the as-is view's map


def test_unwrap_and_wrap_again_gives_the_same_graph(network: onnx.ModelProto) -> None:
    assert graph_sha256(one_view_of(average_flips(network))) == graph_sha256(network)


def test_one_view_is_the_network_itself(network: onnx.ModelProto) -> None:
    assert graph_sha256(average_flips(network, views=("as_is",))) == graph_sha256(network)


@pytest.mark.parametrize("views", [("as_is", "lr"), ("as_is", "tb"), ("as_is", "half_turn"), VIEWS])
def test_every_constant_of_the_wrapper_is_used(network: onnx.ModelProto, views: tuple[str, ...]) -> None:
    # An unused initializer is a warning on every load of the model (onnxruntime's graph.cc).
    assert _unused_initializers(average_flips(network, views=views)) == _unused_initializers(network)


def test_batch_of_one_and_odd_batches(crops: np.ndarray, network: onnx.ModelProto) -> None:
    sess = session(average_flips(network), 1)
    whole = sess.run(["probs"], {"image": crops[:5]})[0]
    for i in range(5):
        np.testing.assert_allclose(sess.run(["probs"], {"image": crops[i:i + 1]})[0][0], whole[i], atol=1e-5)
