"""Shared fixtures. Others may add fixtures here; keep each one small and documented.

`tiny_model` / `tiny_model_factory`: a small but REAL ONNX defect model (built with onnx.helper, saved with
its card by models.card.save_model) that a real onnxruntime session loads in milliseconds. It has the
shape of the shipped models: uint8 NHWC BGR input [N, 64, 64, 3], normalisation in the graph, a softmax
classifier `probs` [N, C] and a coarse heatmap `heatmap` [N, 4, 4] (mean brightness per 16x16 cell).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.card import ModelCard, save_model
from tests.mosquitto import MosquittoBroker

TINY_CLASSES = ["ok", "short_shot", "flash", "black_spot"]
TINY_SIZE = 64


def build_tiny_graph(
    n_classes: int = len(TINY_CLASSES),
    size: int = TINY_SIZE,
    heatmap: bool = True,
    extra_output: bool = False,
    seed: int = 0,
) -> onnx.ModelProto:
    """uint8 [N,size,size,3] -> (x - mean)/std -> per-channel mean -> linear -> softmax (+ heatmap)."""
    rng = np.random.default_rng(seed)
    mean = np.array([100.0, 110.0, 120.0], np.float32)
    std = np.array([50.0, 55.0, 60.0], np.float32)
    inits = [
        numpy_helper.from_array(mean, "mean"),
        numpy_helper.from_array(std, "std"),
        numpy_helper.from_array(rng.normal(0, 2, (3, n_classes)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(0, 0.1, (n_classes,)).astype(np.float32), "B"),
    ]
    nodes = [
        helper.make_node("Cast", ["image"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["xf", "mean"], ["xc"]),
        helper.make_node("Div", ["xc", "std"], ["xn"]),
        helper.make_node("ReduceMean", ["xn"], ["feat"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["feat", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    outputs = [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", n_classes])]
    if heatmap:
        cell = size // 4
        inits.append(numpy_helper.from_array(np.array([-1, 4, cell, 4, cell], np.int64), "grid"))
        nodes += [
            helper.make_node("ReduceMean", ["xn"], ["gray"], axes=[3], keepdims=0),
            helper.make_node("Reshape", ["gray", "grid"], ["cells"]),
            helper.make_node("ReduceMean", ["cells"], ["heatmap"], axes=[2, 4], keepdims=0),
        ]
        outputs.append(helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", 4, 4]))
    if extra_output:
        nodes.append(helper.make_node("Identity", ["logits"], ["logits_out"]))
        outputs.append(helper.make_tensor_value_info("logits_out", TensorProto.FLOAT, ["N", n_classes]))
    graph = helper.make_graph(
        nodes,
        "tiny_defect",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", size, size, 3])],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def tiny_card(n_classes: int = len(TINY_CLASSES), size: int = TINY_SIZE, heatmap: bool = True) -> ModelCard:
    """The card that truthfully describes `build_tiny_graph` with the same arguments."""
    classes = (TINY_CLASSES + [f"defect_{i}" for i in range(n_classes)])[:n_classes]
    outputs = [{"name": "probs", "kind": "classifier", "shape": [-1, n_classes]}]
    if heatmap:
        outputs.append({"name": "heatmap", "kind": "heatmap", "shape": [-1, 4, 4]})
    return ModelCard.model_validate(
        {
            "schema": "moldpilot.card/1",
            "name": "tiny_defect",
            "input": {
                "name": "image",
                "shape": [-1, size, size, 3],
                "dtype": "uint8",
                "layout": "NHWC",
                "colour": "bgr",
                "resize": {"width": size, "height": size, "interpolation": "area"},
                "mean": [100.0, 110.0, 120.0],
                "std": [50.0, 55.0, 60.0],
                "normalize_in_graph": True,
            },
            "outputs": outputs,
            "class_names": classes,
            "ok_class": "ok",
            "threshold": 0.5,
            "training": {"images": 0, "note": "test fixture, random weights"},
            "validation": {},
            "provenance": {"backbone": "none", "weights": "random (seed 0)", "licence": "n/a"},
        }
    )


@pytest.fixture
def tiny_model_factory(tmp_path: Path) -> Callable[..., Path]:
    """Build + save a tiny model with its card; kwargs go to build_tiny_graph. Returns the .onnx path.

    `card=` overrides the card (to describe the graph wrongly on purpose); `name=` the file stem.
    """

    def make(name: str = "tiny", card: ModelCard | None = None, **graph_kwargs: object) -> Path:
        model = build_tiny_graph(**graph_kwargs)  # type: ignore[arg-type]
        card_kwargs = {k: v for k, v in graph_kwargs.items() if k in ("n_classes", "size", "heatmap")}
        path = tmp_path / f"{name}.onnx"
        save_model(model, card or tiny_card(**card_kwargs), path)  # type: ignore[arg-type]
        return path

    return make


@pytest.fixture
def tiny_model(tiny_model_factory: Callable[..., Path]) -> Path:
    """Path to tiny.onnx (+ tiny.card.json): 4 classes, 64x64 BGR uint8 input, probs + heatmap."""
    return tiny_model_factory()


# ---- MQTT: a real Mosquitto per test (see tests/mosquitto.py) ----------------------------------------


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Start brokers (kwargs: users, acl, tls, require_client_cert) on free loopback ports; all killed at
    teardown. Each gets its own folder under tmp_path for its config, password file and log."""
    brokers: list[MosquittoBroker] = []

    def start(**kwargs: object) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"mosquitto{len(brokers)}", **kwargs)  # type: ignore[arg-type]
        brokers.append(broker)
        broker.start()
        return broker

    yield start
    for broker in brokers:
        broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """An anonymous Mosquitto on 127.0.0.1:<free port>."""
    return mosquitto_factory()
