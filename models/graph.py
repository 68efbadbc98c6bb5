"""Compose ONE ONNX graph: uint8 BGR NHWC pixels -> preprocessing -> MobileNetV2 taps -> pooling -> head.

The trainer extracts features with `feature_graph` and ships `model_graph`; both come from the same
`_trunk`, so the features a head is trained on are computed exactly as on the edge PC.

Pooling (`POOLINGS`, per tap, in this order in `features`): global average, global max, and the average
of each quadrant (2x2 grid). Global averaging alone washes out small local defects: on simulator crops
(6,000 to train, 1,000 fresh, identity view) AUROC was 0.922 with average only, 0.924 adding the max and
0.945 adding the quadrants (a 3x3 grid on top: 0.956, at 2.5x the features). The quadrants tell "a dark
spot where this part has none" from "a hole where it always is". Also tried and dropped: spatial std
and top-5 means (+0.005), an MLP head (no gain), a 256 px backbone input (-0.01), patch nearest-neighbour
anomaly scores (0.82) and a multiple-instance patch classifier (0.77).

Outputs of the shipped graph:
- `probs` [N, C]: softmax of a linear head over the pooled taps.
- `heatmap` [N, h, w] in [0, 1]: class-activation map of the head over the deepest tap (stride 16; 10x10
  at 160 px). The defect direction is (mean of the defect-class weights) - (ok weights), summed over the
  poolings of that tap (each pooling is a positive combination of the map's cells); the map is min-max
  normalised per image (where the evidence is) and multiplied by P(defect) (how much there is), so an OK
  part shows a dark map and the map of an NG part peaks at the defect.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from models.dataset import Size, height_width
from models.initializers import constant as _const
from models.start_model import start_trunk

BACKBONE_DIR = Path(__file__).resolve().parent / "backbone"
BACKBONE_ONNX = BACKBONE_DIR / "mobilenet_v2_features.onnx"
BACKBONE_CARD = BACKBONE_DIR / "mobilenet_v2_features.json"
MEAN = [0.485, 0.456, 0.406]  # ImageNet, RGB order
STD = [0.229, 0.224, 0.225]
INPUT = "image"
FEATURES = "features"
POOLINGS = ("avg", "max", "quadrants")
LUMA_BGR = np.array([0.114, 0.587, 0.299], np.float32)  # ITU-R BT.601, as cv2.COLOR_BGR2GRAY
GREY_LEVEL = 110.0  # mean grey of a crop after brightness normalisation (0-255)
_POOLED_PER_CHANNEL = {"avg": 1, "max": 1, "quadrants": 4}


def backbone_card() -> dict:
    return json.loads(BACKBONE_CARD.read_text(encoding="utf-8"))


def _grey_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """pre_f [N, H, W, 3] BGR -> `pre_grey` [N, H, W, 1]: luma scaled to a mean of GREY_LEVEL per image.

    For good-only models of mixed parts: resin colour and overall brightness are design, not defect, so
    removing them narrows "normal" (models/padim.py). The [N, H, W, 1] result broadcasts against the
    per-channel normalisation, so the backbone sees the same grey in all three channels.
    """
    return [
        helper.make_node("MatMul", ["pre_f", _const(graph, "pre_luma_w", LUMA_BGR.reshape(3, 1))],
                         ["pre_luma"]),
        helper.make_node("ReduceMean", ["pre_luma"], ["pre_level"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Max", ["pre_level", _const(graph, "pre_level_min", np.array(1.0, np.float32))],
                         ["pre_level_safe"]),
        helper.make_node("Div", [_const(graph, "pre_grey_level", np.array(GREY_LEVEL, np.float32)),
                                 "pre_level_safe"], ["pre_gain"]),
        helper.make_node("Mul", ["pre_luma", "pre_gain"], ["pre_gained"]),
        helper.make_node("Clip", ["pre_gained", _const(graph, "pre_zero", np.array(0.0, np.float32)),
                                  _const(graph, "pre_white", np.array(255.0, np.float32))], ["pre_grey"]),
    ]


def _imagenet_trunk(size: Size, grey: bool) -> tuple[onnx.ModelProto, list[str]]:
    """models/backbone's MobileNetV2 with the uint8 `image` input and its pre-processing in front."""
    model = onnx.load(str(BACKBONE_ONNX))
    graph = model.graph
    taps = [o.name for o in graph.output]
    inner = graph.input[0].name
    # (x / 255 - mean) / std folded into one multiply-add, in BGR->RGB order after the channel flip.
    scale = np.array([1.0 / (255.0 * s) for s in STD], np.float32)
    shift = np.array([-m / s for m, s in zip(MEAN, STD, strict=True)], np.float32)
    channels = _grey_nodes(graph) if grey else [
        helper.make_node("Gather", ["pre_f", _const(graph, "pre_bgr2rgb", np.array([2, 1, 0], np.int64))],
                         ["pre_rgb"], axis=3),
    ]
    pre = [
        helper.make_node("Cast", [INPUT], ["pre_f"], to=TensorProto.FLOAT),
        *channels,
        helper.make_node("Mul", ["pre_grey" if grey else "pre_rgb", _const(graph, "pre_scale", scale)],
                         ["pre_scaled"]),
        helper.make_node("Add", ["pre_scaled", _const(graph, "pre_shift", shift)], ["pre_norm"]),
        helper.make_node("Transpose", ["pre_norm"], [inner], perm=[0, 3, 1, 2]),
    ]
    nodes = pre + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:]
    height, width = height_width(size)
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["N", height, width, 3]))
    return model, taps


def _trunk(size: Size, grey: bool = False, start: Path | None = None) -> tuple[onnx.ModelProto, list[str]]:
    """Backbone with a uint8 `image` input and pre-processing in front; returns it and the tap names.

    grey: the backbone sees brightness-normalised grey instead of colour (`_grey_nodes`).
    start: a MoldPilot model whose own network (and pre-processing) gives the taps instead of the
    ImageNet backbone (models/start_model.py); `size` must then be that model's input size.
    """
    if start is not None:
        model, taps = start_trunk(start, list(zip(tap_channels(), _tap_strides(), strict=True)))
    else:
        model, taps = _imagenet_trunk(size, grey)
    height, width = height_width(size)
    graph = model.graph
    pooled: dict[str, list[str]] = {kind: [] for kind in POOLINGS}
    for tap, stride in zip(taps, _tap_strides(), strict=True):
        # Two windows per axis: stride = half the cells, window = the rest, so an odd count (25 cells at
        # 400 px) shares its middle cell between the halves instead of making a third window.
        cells = [-(-side // stride) for side in (height, width)]
        half = [max(1, n // 2) for n in cells]
        window = [max(1, n - h) for n, h in zip(cells, half, strict=True)]
        graph.node.extend([
            helper.make_node("ReduceMean", [tap], [f"{tap}_avg"], axes=[2, 3], keepdims=0),
            helper.make_node("ReduceMax", [tap], [f"{tap}_max"], axes=[2, 3], keepdims=0),
            helper.make_node("AveragePool", [tap], [f"{tap}_q4"], kernel_shape=window, strides=half),
            helper.make_node("Flatten", [f"{tap}_q4"], [f"{tap}_quadrants"], axis=1),  # channel-major
        ])
        for kind in POOLINGS:
            pooled[kind].append(f"{tap}_{kind}")
    graph.node.append(helper.make_node("Concat", [n for kind in POOLINGS for n in pooled[kind]], [FEATURES],
                                       axis=1))
    del graph.output[:]
    return model, taps


def feature_graph(size: Size, start: Path | None = None) -> onnx.ModelProto:
    """image uint8 [N, height, width, 3] BGR -> `features` float32 [N, K] (pooled taps, concatenated);
    `start` as in `_trunk`."""
    model, _ = _trunk(size, start=start)
    model.graph.output.append(helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["N", None]))
    onnx.checker.check_model(model)
    return model


def tap_channels() -> list[int]:
    return [o["channels"] for o in backbone_card()["outputs"]]


def _tap_strides() -> list[int]:
    return [o["stride"] for o in backbone_card()["outputs"]]


def tap_weight(weight: np.ndarray, tap: int) -> np.ndarray:
    """Columns of a head weight [C, K] that read tap `tap`, summed over the poolings: [C, channels]."""
    channels = tap_channels()
    total = np.zeros((weight.shape[0], channels[tap]), weight.dtype)
    start = 0
    for kind in POOLINGS:
        per = _POOLED_PER_CHANNEL[kind]
        offset = start + per * sum(channels[:tap])
        block = weight[:, offset:offset + per * channels[tap]]
        total += block.reshape(weight.shape[0], channels[tap], per).sum(axis=2)
        start += per * sum(channels)
    return total


def feature_columns(taps: tuple[int, ...], poolings: tuple[str, ...]) -> np.ndarray:
    """Indices into `features` of the given taps (0 = feat_b3 ... 3 = feat_b13) under the given poolings.

    The layout is pooling-major (`_trunk`): for each pooling in POOLINGS, every tap's channels times the
    values that pooling gives per channel.
    """
    channels = tap_channels()
    columns: list[np.ndarray] = []
    start = 0
    for kind in POOLINGS:
        per = _POOLED_PER_CHANNEL[kind]
        for tap, n in enumerate(channels):
            if kind in poolings and tap in taps:
                columns.append(np.arange(start, start + per * n))
            start += per * n
    return np.concatenate(columns)


def model_graph(size: Size, weight: np.ndarray, bias: np.ndarray, ok_index: int = 0,
                start: Path | None = None) -> onnx.ModelProto:
    """The shipped graph: `probs` [N, C] and `heatmap` [N, h, w] from a linear head (weight [C, K]) on
    the taps of `_trunk(size, start=start)`."""
    model, taps = _trunk(size, start=start)
    graph = model.graph
    n_classes = weight.shape[0]
    deep = tap_channels()[-1]
    defect_rows = [c for c in range(n_classes) if c != ok_index]
    deep_weight = tap_weight(weight, len(taps) - 1)
    direction = deep_weight[defect_rows].mean(axis=0) - deep_weight[ok_index]
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
    # deepest tap has stride 16 (ceil for odd sizes, as the stride-2 convs pad)
    cells = [-(-side // 16) for side in height_width(size)]
    graph.output.extend([
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", n_classes]),
        helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", *cells]),
    ])
    onnx.checker.check_model(model)
    return model
