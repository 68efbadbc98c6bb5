"""ONNX graphs of the patch-level defect model: the feature extractor used to train it and the shipped graph.

Both start from `graph._trunk` (uint8 BGR pixels -> pre-processing -> MobileNetV2 taps -> pooled
`features`), so training features and edge features are computed by the same nodes. On top:

- `patch_features` [N, K, g, g]: the image is enlarged 2x (bilinear) before the backbone, and the taps
  are brought onto one stride-8 grid of the 160 px input (20 x 20): feat_b3 average-pooled 4x4, feat_b6
  2x2, feat_b10 and feat_b13 as they are. Then each cell's 3x3 neighbourhood mean is appended (context a
  per-cell head cannot see). Enlarging: dev AUROC 0.957 -> 0.975 and accuracy at 0.5 % escape 0.59 ->
  0.75 (3,000 training crops), at 4x the backbone cost (~25 ms a crop on one core).
- The shipped graph adds the cell head (models/patch_head.py: a one-hidden-layer MLP per cell = two 1x1
  Convs, standardisation folded in, the image's mean `patch_local` added as a per-image bias) ->
  sigmoid -> 3x3 mean (`heatmap`: one noisy cell does not make a defect, a blob does) -> max = patch
  score; and the image head (Gemm + softmax on the pooled `features`, the generic trainer's
  head) for what is not local (warp bends the whole part) and for the defect class.
  P(defect) = max(patch score, image-head P(defect)); `probs` = [1 - P(defect), P(defect) * defect-class
  softmax of the image head], so P(defect) = 1 - probs[:, ok] as the card says.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from models.graph import FEATURES, _const, _trunk

PATCH = "patch_features"
LOCAL_CHANNELS = 216  # feat_b3 + b6 + b10 + b13 = 24 + 32 + 64 + 96
STRIDE = 8  # grid stride in input pixels
UPSCALE = 2  # 160 px crops enlarged to 320 px for the backbone: thin scratches span more than a pixel


def grid_side(size: int) -> int:
    return -(-size // STRIDE)


def _patch_trunk(size: int) -> onnx.ModelProto:
    """`_trunk` plus the `patch_features` grid node (outputs not declared yet)."""
    model, taps = _trunk(size, UPSCALE)
    graph = model.graph
    b3, b6, b10, b13 = taps
    # Taps at strides 4, 8, 16, 16 of the enlarged image = 2, 4, 8, 8 input pixels -> all onto stride 8.
    nodes = [
        helper.make_node("AveragePool", [b3], ["patch_b3"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("AveragePool", [b6], ["patch_b6"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Identity", [b10], ["patch_b10"]),
        helper.make_node("Identity", [b13], ["patch_b13"]),
    ]
    graph.node.extend(nodes)
    graph.node.extend([
        helper.make_node("Concat", ["patch_b3", "patch_b6", "patch_b10", "patch_b13"], ["patch_local"],
                         axis=1),
        helper.make_node("AveragePool", ["patch_local"], ["patch_ctx"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], count_include_pad=0),
        helper.make_node("Concat", ["patch_local", "patch_ctx"], [PATCH], axis=1),
    ])
    return model


def patch_feature_graph(size: int) -> onnx.ModelProto:
    """image uint8 [N, size, size, 3] -> `patch_features` [N, K, g, g] and pooled `features` [N, F]."""
    model = _patch_trunk(size)
    g = grid_side(size)
    model.graph.output.extend([
        helper.make_tensor_value_info(PATCH, TensorProto.FLOAT, ["N", None, g, g]),
        helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["N", None]),
    ])
    onnx.checker.check_model(model)
    return model


def patch_model_graph(size: int, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: float,
                      image_weight: np.ndarray, image_bias: np.ndarray) -> onnx.ModelProto:
    """The shipped graph: `probs` [N, C] and `heatmap` [N, g, g] (see the module docstring).

    Cell head (models/patch_head.PatchHead): w1 [H, K + L] reads the K patch features and then the L
    image means of `patch_local`; image head: image_weight [C, F], image_bias [C] on `features`, class 0 ok.
    """
    model = _patch_trunk(size)
    graph = model.graph
    n_classes = image_weight.shape[0]
    hidden, k = w1.shape[0], LOCAL_CHANNELS * 2
    graph.node.extend([
        helper.make_node("Conv", [PATCH, _const(graph, "cell_w1", w1[:, :k].reshape(hidden, k, 1, 1)),
                                  _const(graph, "cell_b1", b1)], ["cell_h_local"]),
        helper.make_node("ReduceMean", ["patch_local"], ["patch_mean"], axes=[2, 3], keepdims=1),
        helper.make_node("Conv", ["patch_mean", _const(graph, "cell_w1_mean",
                                                       w1[:, k:].reshape(hidden, -1, 1, 1))],
                         ["cell_h_mean"]),
        helper.make_node("Add", ["cell_h_local", "cell_h_mean"], ["cell_h_pre"]),
        helper.make_node("Relu", ["cell_h_pre"], ["cell_h"]),
        helper.make_node("Conv", ["cell_h", _const(graph, "cell_w2", w2.reshape(1, hidden, 1, 1)),
                                  _const(graph, "cell_b2", np.array([b2], np.float32))], ["patch_logit"]),
        helper.make_node("Sigmoid", ["patch_logit"], ["patch_p"]),
        helper.make_node("AveragePool", ["patch_p"], ["patch_smooth"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         count_include_pad=0),
        helper.make_node("Squeeze", ["patch_smooth", _const(graph, "axis1", np.array([1], np.int64))],
                         ["heatmap"]),
        helper.make_node("ReduceMax", ["heatmap"], ["patch_score"], axes=[1, 2], keepdims=0),  # [N]
        helper.make_node("Gemm", [FEATURES, _const(graph, "head_w", image_weight.astype(np.float32)),
                                  _const(graph, "head_b", image_bias.astype(np.float32))], ["logits"],
                         transB=1),
        helper.make_node("Softmax", ["logits"], ["image_probs"], axis=1),
        helper.make_node("Gather", ["image_probs", _const(graph, "ok_index", np.array(0, np.int64))],
                         ["image_p_ok"], axis=1),  # [N]
        helper.make_node("Sub", [_const(graph, "one", np.array(1.0, np.float32)), "image_p_ok"],
                         ["image_p_def"]),
        helper.make_node("Max", ["patch_score", "image_p_def"], ["p_def"]),
        helper.make_node("Sub", ["one", "p_def"], ["p_ok"]),
        # Defect classes: softmax of the image head's defect logits only, scaled to sum to P(defect).
        helper.make_node("Slice", ["logits", _const(graph, "from1", np.array([1], np.int64)),
                                   _const(graph, "to_end", np.array([n_classes], np.int64)),
                                   _const(graph, "axis_1", np.array([1], np.int64))], ["defect_logits"]),
        helper.make_node("Softmax", ["defect_logits"], ["defect_share"], axis=1),
        helper.make_node("Unsqueeze", ["p_def", _const(graph, "axis_last", np.array([1], np.int64))],
                         ["p_def2"]),
        helper.make_node("Mul", ["defect_share", "p_def2"], ["defect_probs"]),
        helper.make_node("Unsqueeze", ["p_ok", "axis_last"], ["p_ok2"]),
    ])
    graph.node.append(helper.make_node("Concat", ["p_ok2", "defect_probs"], ["probs"], axis=1))
    g = grid_side(size)
    graph.output.extend([
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", n_classes]),
        helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", g, g]),
    ])
    onnx.checker.check_model(model)
    return model
