"""A small but REAL ONNX defect model for tests (built with onnx.helper, saved with its card by
models.card.save_model) that a real onnxruntime session loads in milliseconds. It has the shape of the
shipped models: uint8 NHWC BGR input [N, 64, 64, 3], normalisation in the graph, a softmax classifier
`probs` [N, C] and a coarse heatmap `heatmap` [N, 4, 4] (mean brightness per 16x16 cell).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.card import ModelCard

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


def write_noise_images(folder: Path, n: int, seed: int) -> Path:
    """`n` 64x48 images of random pixels into `folder` (000.png, ...): parts to run a station on when
    only the verdict count matters, not the verdict."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return folder


def write_solid_images(folder: Path, n: int) -> Path:
    """`n` images of one colour each, into `folder` (000.png, ...). The default tiny model scores them
    from P(defect) 0.1 to 1.0 (random noise averages out to ~0.9 for every image), so both sides of
    its card threshold 0.5 show up: among the first 24 the ones at indices 2, 17 and 20 are OK."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, bgr in enumerate(np.random.default_rng(2).integers(0, 256, (n, 3))):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((TINY_SIZE, TINY_SIZE, 3), bgr, np.uint8))
    return folder


def tamper(model: Path) -> None:
    """Change one weight and keep the old card (embedded and beside): what a tampered file looks like."""
    proto = onnx.load(str(model))
    w = next(i for i in proto.graph.initializer if i.name == "W")
    arr = numpy_helper.to_array(w).copy()
    arr[0, 0] += 0.25
    w.CopyFrom(numpy_helper.from_array(arr, "W"))
    onnx.save(proto, str(model))
