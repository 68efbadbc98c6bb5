"""ONE ONNX graph for a good-only model: uint8 BGR pixels -> backbone taps -> embedding -> PaDiM scores.

The trunk (pre-processing + MobileNetV2 taps) is models/graph.py's, so the supervised and the good-only
model see the same pixels the same way (a good-only model may ask it for brightness-normalised grey
instead of colour). Nodes the trunk adds for the supervised head's pooling are not needed here;
onnx.utils.Extractor keeps only what the outputs use.

Embedding (stride 8: 20 x 20 cells at 160 px): feat_b3 (stride 4) average-pooled 2x2, feat_b6 as is,
feat_b10 and feat_b13 (stride 16) upsampled 2x (linear), concatenated (216 channels) and reduced to the D
channels in `channels` (a Gather on the channel axis). `embedding_graph` stops there (the trainer fits
the Gaussians on its output); `anomaly_graph` optionally removes the embedding's projection on a design
subspace (models/padim.py: Reshape, Gemm, MatMul over int8 components), then adds the two Mahalanobis
distances of models/padim.py (global average -> image distance, per location -> map), the choice of the
best group, the map's blur and the normalisation of each to [0, 1]:

    r = d / threshold_distance,   value = r^k / (1 + r^k) = sigmoid(k * ln r)

so 0.5 means "at the threshold": the card's threshold is 0.5 on the score. The heatmap has its own
threshold distance (a high quantile of good parts' map maxima) so a cell above 0.5 is hotter than good
parts get; `k` (steepness) is calibrated so that the median good part lands at 0.1, dark on the JET map.

Outputs: `heatmap` [N, h, w] in [0, 1]; `anomaly_score` [N] in [0, 1]; `probs` [N, 2] = [1 - score,
score], so the runner, the Judge, the pipeline and `moldpilot eval` treat it as a two-class model whose
P(defect) is the normalised anomaly score, with no change to the card's "one classifier" rule.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.utils import Extractor

from models.graph import INPUT, _trunk
from models.initializers import constant as _const
from models.padim import BLUR_KERNEL, DesignSubspace, GaussianMaps

EMBEDDING = "embedding"
ScoreSource = Literal["global", "local"]
EMBED_STRIDE = 8
TAP_CHANNELS_TOTAL = 216  # 24 + 32 + 64 + 96 (backbone card)


def _embedding_trunk(size: int, channels: np.ndarray, grey: bool) -> onnx.ModelProto:
    if size % 16:
        raise ValueError(f"good-only input size must be a multiple of 16, got {size}")
    model, taps = _trunk(size, grey)
    graph = model.graph
    b3, b6, b10, b13 = taps
    scale2 = _const(graph, "emb_scale2", np.array([1.0, 1.0, 2.0, 2.0], np.float32))
    graph.node.extend([
        helper.make_node("AveragePool", [b3], ["emb_b3"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Resize", [b10, "", scale2], ["emb_b10"], mode="linear"),
        helper.make_node("Resize", [b13, "", scale2], ["emb_b13"], mode="linear"),
        helper.make_node("Concat", ["emb_b3", b6, "emb_b10", "emb_b13"], ["emb_all"], axis=1),
        helper.make_node("Gather", ["emb_all", _const(graph, "emb_channels", channels.astype(np.int64))],
                         [EMBEDDING], axis=1),
    ])
    return model


def _finish(model: onnx.ModelProto, outputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    pruned = Extractor(model).extract_model([INPUT], [o.name for o in outputs])
    del pruned.graph.output[:]
    pruned.graph.output.extend(outputs)  # keep the declared shapes (the extractor may drop them)
    onnx.checker.check_model(pruned)
    return pruned


def embedding_graph(size: int, channels: np.ndarray, grey: bool = False) -> onnx.ModelProto:
    """image uint8 [N, size, size, 3] BGR -> `embedding` float32 [N, D, size/8, size/8]."""
    model = _embedding_trunk(size, channels, grey)
    cells = size // EMBED_STRIDE
    out = helper.make_tensor_value_info(EMBEDDING, TensorProto.FLOAT, ["N", len(channels), cells, cells])
    return _finish(model, [out])


def embedding_part(model: onnx.ModelProto) -> onnx.ModelProto:
    """The `image` -> `embedding` part of a good-only graph (e.g. an INT8 one), as its own model."""
    out = helper.make_tensor_value_info(EMBEDDING, TensorProto.FLOAT, ["N", "D", "h", "w"])
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return _finish(copy, [out])


def with_statistics(model: onnx.ModelProto, image_gaussians: GaussianMaps, map_gaussians: GaussianMaps,
                    score_scale: tuple[float, float], map_scale: tuple[float, float]) -> onnx.ModelProto:
    """A copy of a good-only graph with new Gaussians and scales (same groups, locations and channels)."""
    values = {"img_mean": image_gaussians.mean[:, :, None, :], "img_whiten": image_gaussians.whiten,
              "loc_mean": map_gaussians.mean[:, :, None, :], "loc_whiten": map_gaussians.whiten,
              "anomaly_score_log_t": np.log(score_scale[0]), "anomaly_score_k": score_scale[1],
              "heatmap_log_t": np.log(map_scale[0]), "heatmap_k": map_scale[1]}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for init in out.graph.initializer:
        if init.name in values:
            shape = numpy_helper.to_array(init).shape
            value = np.asarray(values.pop(init.name), np.float32).reshape(shape)
            init.CopyFrom(numpy_helper.from_array(value, init.name))
    if values:
        raise ValueError(f"not a good-only graph: no initializer(s) {sorted(values)}")
    return out


def stored_design(model: onnx.ModelProto) -> DesignSubspace | None:
    """The design subspace a good-only graph removes, or None if it removes none."""
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer
              if i.name in ("design_mean", "design_components", "design_scale")}
    if not values:
        return None
    return DesignSubspace(values["design_mean"].reshape(-1), values["design_components"],
                          values["design_scale"])


def _remove_design(graph: onnx.GraphProto, design: DesignSubspace, shape_ndhw: list[int]) -> str:
    """EMBEDDING [N, D, h, w] -> its residual after the design subspace (models/padim.py remove_design).

    One int8 initializer serves both products (Gemm with transB projects, MatMul reconstructs).
    """
    flat = [0, int(np.prod(shape_ndhw[1:]))]
    _const(graph, "design_components", design.components_int8)
    _const(graph, "design_scale", design.scale)
    _const(graph, "design_zero", np.zeros(len(design.scale), np.int8))
    graph.node.extend([
        helper.make_node("Reshape", [EMBEDDING, _const(graph, "design_flat", np.array(flat, np.int64))],
                         ["design_x"]),
        helper.make_node("Sub", ["design_x", _const(graph, "design_mean", design.mean[None, :])],
                         ["design_centred"]),
        helper.make_node("DequantizeLinear", ["design_components", "design_scale", "design_zero"],
                         ["design_components_f"], axis=0),
        helper.make_node("Gemm", ["design_centred", "design_components_f"], ["design_coef"], transB=1),
        helper.make_node("MatMul", ["design_coef", "design_components_f"], ["design_projection"]),
        helper.make_node("Sub", ["design_centred", "design_projection"], ["design_residual_flat"]),
        helper.make_node("Reshape", ["design_residual_flat",
                                     _const(graph, "design_shape", np.array(shape_ndhw, np.int64))],
                         ["design_residual"]),
    ])
    return "design_residual"


def _mahalanobis(graph: onnx.GraphProto, x: str, gaussians: GaussianMaps, prefix: str) -> str:
    """x [1, L, N, D] -> distances [G, L, N]: sqrt(||(x - mu) W||^2) per group and location."""
    nodes = [
        helper.make_node("Sub", [x, _const(graph, f"{prefix}_mean", gaussians.mean[:, :, None, :])],
                         [f"{prefix}_centred"]),
        helper.make_node("MatMul", [f"{prefix}_centred", _const(graph, f"{prefix}_whiten", gaussians.whiten)],
                         [f"{prefix}_whitened"]),
        helper.make_node("Mul", [f"{prefix}_whitened", f"{prefix}_whitened"], [f"{prefix}_squared"]),
        helper.make_node("ReduceSum", [f"{prefix}_squared", _const(graph, f"{prefix}_axis3",
                                                                   np.array([3], np.int64))],
                         [f"{prefix}_m2"], keepdims=0),
        helper.make_node("Sqrt", [f"{prefix}_m2"], [f"{prefix}_distance"]),
    ]
    graph.node.extend(nodes)
    return f"{prefix}_distance"


def _normalised(graph: onnx.GraphProto, distance: str, threshold_distance: float, steepness: float,
                out: str) -> None:
    """out = sigmoid(k * (ln d - ln t)): 0.5 at the threshold distance."""
    graph.node.extend([
        helper.make_node("Log", [distance], [f"{out}_log_d"]),
        helper.make_node("Sub", [f"{out}_log_d", _const(graph, f"{out}_log_t",
                                                        np.array(np.log(threshold_distance), np.float32))],
                         [f"{out}_log_r"]),
        helper.make_node("Mul", [f"{out}_log_r", _const(graph, f"{out}_k", np.array(steepness, np.float32))],
                         [f"{out}_logit"]),
        helper.make_node("Sigmoid", [f"{out}_logit"], [out]),
    ])


def anomaly_graph(size: int, channels: np.ndarray, image_gaussians: GaussianMaps, map_gaussians: GaussianMaps,
                  score_scale: tuple[float, float], map_scale: tuple[float, float],
                  score_source: ScoreSource = "global", design: DesignSubspace | None = None,
                  grey: bool = False) -> onnx.ModelProto:
    """The shipped good-only graph: `probs` [N, 2], `heatmap` [N, h, w], `anomaly_score` [N].

    `score_scale` / `map_scale` are (threshold distance, steepness) of the image score and the heatmap;
    `score_source` says which distance the score reads (models/padim.py, "two Gaussians"); `design`, if
    given, is removed from the embedding before both distances; `grey` as in models/graph.py `_trunk`.
    """
    model = _embedding_trunk(size, channels, grey)
    graph = model.graph
    n_groups, locations, depth = map_gaussians.mean.shape
    cells = size // EMBED_STRIDE
    x = EMBEDDING if design is None else _remove_design(graph, design, [-1, depth, cells, cells])

    def c(name: str, value: list[int]) -> str:
        return _const(graph, name, np.array(value, np.int64))

    graph.node.extend([
        # Per location: [N, D, h, w] -> [1, L, N, D]; global average: [N, D] -> [1, 1, N, D].
        helper.make_node("Reshape", [x, c("shape_ndl", [0, depth, locations])], ["x_ndl"]),
        helper.make_node("Transpose", ["x_ndl"], ["x_lnd"], perm=[2, 0, 1]),
        helper.make_node("Unsqueeze", ["x_lnd", c("axis0", [0])], ["x_local"]),
        helper.make_node("ReduceMean", [x], ["x_nd"], axes=[2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["x_nd", c("axes01", [0, 1])], ["x_global"]),
    ])
    image_d = _mahalanobis(graph, "x_global", image_gaussians, "img")  # [G, 1, N]
    local_d = _mahalanobis(graph, "x_local", map_gaussians, "loc")  # [G, L, N]
    graph.node.extend([
        # Best group per image: the smallest image distance (ties average their maps).
        helper.make_node("Squeeze", [image_d, c("axis1", [1])], ["d_gn"]),
        helper.make_node("ReduceMin", ["d_gn"], ["d_best"], axes=[0], keepdims=0),
        helper.make_node("Unsqueeze", ["d_best", "axis0"], ["d_best_1n"]),
        helper.make_node("Equal", ["d_gn", "d_best_1n"], ["is_best"]),
        helper.make_node("Cast", ["is_best"], ["best_gn"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["best_gn", c("axes23", [2, 3])], ["best_gn11"]),
        # Blur each map: [G*N, 1, h, w], reflect pad 1, 3x3 binomial kernel.
        helper.make_node("Transpose", [local_d], ["d_gnl"], perm=[0, 2, 1]),
        helper.make_node("Reshape", ["d_gnl", c("shape_maps", [-1, 1, cells, cells])], ["d_maps"]),
        helper.make_node("Pad", ["d_maps", c("pads", [0, 0, 1, 1, 0, 0, 1, 1])], ["d_padded"],
                         mode="reflect"),
        helper.make_node("Conv", ["d_padded", _const(graph, "blur_w", BLUR_KERNEL.reshape(1, 1, 3, 3))],
                         ["d_blur"]),
        helper.make_node("Reshape", ["d_blur", c("shape_g", [n_groups, -1, cells, cells])], ["maps_g"]),
        helper.make_node("Mul", ["maps_g", "best_gn11"], ["maps_masked"]),
        helper.make_node("ReduceSum", ["maps_masked", "axis0"], ["map_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["best_gn11", "axis0"], ["mask_sum"], keepdims=0),
        helper.make_node("Div", ["map_sum", "mask_sum"], ["distance_map"]),
    ])
    if score_source == "local":
        graph.node.append(helper.make_node("ReduceMax", ["distance_map"], ["d_peak"], axes=[1, 2],
                                           keepdims=0))
    _normalised(graph, "d_best" if score_source == "global" else "d_peak", *score_scale, out="anomaly_score")
    _normalised(graph, "distance_map", *map_scale, out="heatmap")
    graph.node.extend([
        helper.make_node("Unsqueeze", ["anomaly_score", "axis1"], ["score_n1"]),
        helper.make_node("Sub", [_const(graph, "one", np.array(1.0, np.float32)), "score_n1"], ["p_ok"]),
        helper.make_node("Concat", ["p_ok", "score_n1"], ["probs"], axis=1),
    ])
    outputs = [
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 2]),
        helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", cells, cells]),
        helper.make_tensor_value_info("anomaly_score", TensorProto.FLOAT, ["N"]),
    ]
    return _finish(model, outputs)


def normalise(distance: np.ndarray, threshold_distance: float, steepness: float) -> np.ndarray:
    """The graph's map from distance to [0, 1] (numpy reference): sigmoid(k * ln(d / t))."""
    return 1.0 / (1.0 + (threshold_distance / np.maximum(distance, 1e-30)) ** steepness)
