"""Compose ONE ONNX graph: uint8 BGR NHWC pixels -> preprocessing -> MobileNetV2 taps -> pooling -> head.

The trainer extracts features with `feature_graph` and ships `model_graph`; both come from the same
`_trunk`, so the features a head is trained on are computed exactly as on the edge PC.

Outputs of the shipped graph:
- `probs` [N, C]: softmax of a linear head over the global-average-pooled taps.
- `heatmap` [N, h, w] in [0, 1]: class-activation map of the head over the deepest tap (stride 16; 10x10
  at 160 px). The defect direction is (mean of the defect-class weights) - (ok weights); the map is
  min-max normalised per image (where the evidence is) and multiplied by P(defect) (how much there is),
  so an OK part shows a dark map and the map of an NG part peaks at the defect.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BACKBONE_DIR = Path(__file__).resolve().parent / "backbone"
BACKBONE_ONNX = BACKBONE_DIR / "mobilenet_v2_features.onnx"
BACKBONE_CARD = BACKBONE_DIR / "mobilenet_v2_features.json"
MEAN = [0.485, 0.456, 0.406]  # ImageNet, RGB order
STD = [0.229, 0.224, 0.225]
INPUT = "image"
FEATURES = "features"


def backbone_card() -> dict:
    return json.loads(BACKBONE_CARD.read_text(encoding="utf-8"))


def _const(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def _trunk(size: int) -> tuple[onnx.ModelProto, list[str]]:
    """Backbone with a uint8 `image` input and pre-processing in front; returns it and the tap names."""
    model = onnx.load(str(BACKBONE_ONNX))
    graph = model.graph
    taps = [o.name for o in graph.output]
    inner = graph.input[0].name
    # (x / 255 - mean) / std folded into one multiply-add, in BGR->RGB order after the channel flip.
    scale = np.array([1.0 / (255.0 * s) for s in STD], np.float32)
    shift = np.array([-m / s for m, s in zip(MEAN, STD, strict=True)], np.float32)
    pre = [
        helper.make_node("Cast", [INPUT], ["pre_f"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["pre_f", _const(graph, "pre_bgr2rgb", np.array([2, 1, 0], np.int64))],
                         ["pre_rgb"], axis=3),
        helper.make_node("Mul", ["pre_rgb", _const(graph, "pre_scale", scale)], ["pre_scaled"]),
        helper.make_node("Add", ["pre_scaled", _const(graph, "pre_shift", shift)], ["pre_norm"]),
        helper.make_node("Transpose", ["pre_norm"], [inner], perm=[0, 3, 1, 2]),
    ]
    nodes = pre + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["N", size, size, 3]))
    pooled = []
    for tap in taps:
        graph.node.append(helper.make_node("ReduceMean", [tap], [f"{tap}_gap"], axes=[2, 3], keepdims=0))
        pooled.append(f"{tap}_gap")
    graph.node.append(helper.make_node("Concat", pooled, [FEATURES], axis=1))
    del graph.output[:]
    return model, taps


def feature_graph(size: int) -> onnx.ModelProto:
    """image uint8 [N, size, size, 3] BGR -> `features` float32 [N, K] (pooled taps, concatenated)."""
    model, _ = _trunk(size)
    model.graph.output.append(helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["N", None]))
    onnx.checker.check_model(model)
    return model


def tap_channels() -> list[int]:
    return [o["channels"] for o in backbone_card()["outputs"]]


def model_graph(size: int, weight: np.ndarray, bias: np.ndarray, ok_index: int = 0) -> onnx.ModelProto:
    """The shipped graph: `probs` [N, C] and `heatmap` [N, h, w] from a linear head (weight [C, K])."""
    model, taps = _trunk(size)
    graph = model.graph
    n_classes = weight.shape[0]
    deep = tap_channels()[-1]
    defect_rows = [c for c in range(n_classes) if c != ok_index]
    direction = weight[defect_rows, -deep:].mean(axis=0) - weight[ok_index, -deep:]
    nodes = [
        helper.make_node("Gemm", [FEATURES, _const(graph, "head_w", weight.astype(np.float32)),
                                  _const(graph, "head_b", bias.astype(np.float32))], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        # P(defect) = 1 - P(ok), shaped [N, 1, 1] to scale each image's map.
        helper.make_node("Gather", ["probs", _const(graph, "ok_index", np.array([ok_index], np.int64))],
                         ["p_ok"], axis=1),
        helper.make_node("Sub", [_const(graph, "one", np.array(1.0, np.float32)), "p_ok"], ["p_def"]),
        helper.make_node("Unsqueeze", ["p_def", _const(graph, "axis2", np.array([2], np.int64))],
                         ["p_def3"]),
        helper.make_node("Conv", [taps[-1], _const(graph, "cam_w",
                                                   direction.astype(np.float32).reshape(1, deep, 1, 1))],
                         ["cam4"]),
        helper.make_node("Squeeze", ["cam4", _const(graph, "axis1", np.array([1], np.int64))], ["cam"]),
        helper.make_node("ReduceMin", ["cam"], ["cam_min"], axes=[1, 2], keepdims=1),
        helper.make_node("ReduceMax", ["cam"], ["cam_max"], axes=[1, 2], keepdims=1),
        helper.make_node("Sub", ["cam", "cam_min"], ["cam_shift"]),
        helper.make_node("Sub", ["cam_max", "cam_min"], ["cam_range"]),
        helper.make_node("Add", ["cam_range", _const(graph, "eps", np.array(1e-6, np.float32))],
                         ["cam_range_eps"]),
        helper.make_node("Div", ["cam_shift", "cam_range_eps"], ["cam_norm"]),
        helper.make_node("Mul", ["cam_norm", "p_def3"], ["heatmap"]),
    ]
    graph.node.extend(nodes)
    h = -(-size // 16)  # deepest tap has stride 16 (ceil for odd sizes, as the stride-2 convs pad)
    graph.output.extend([
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", n_classes]),
        helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", h, h]),
    ])
    onnx.checker.check_model(model)
    return model
