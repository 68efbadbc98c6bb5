"""Cell labels from defect boxes, and the numpy smoothing the default model's threshold is chosen on."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from models.features import session
from models.patch_head import IGNORE, cell_labels, smooth3


def test_cell_labels_mark_the_box_ignore_its_rim_and_warp() -> None:
    labels = cell_labels(["ok", "burn", "warp"], [None, (20, 20, 10, 4), (0, 0, 160, 160)], 20)
    assert (labels[0] == 0).all()
    assert (labels[2] == IGNORE).all()
    positive = np.argwhere(labels[1] == 1)
    assert positive.tolist() == [[2, 2], [2, 3]]  # x 20..29 -> columns 2, 3; y 20..23 -> row 2
    assert labels[1][1:4, 1:5].min() == IGNORE and labels[1][5:, :].max() == 0


def test_smooth3_equals_the_graph_average_pool() -> None:
    maps = np.random.default_rng(0).random((2, 20, 20)).astype(np.float32)
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                            count_include_pad=0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    got = session(model).run(["y"], {"x": maps[:, None]})[0][:, 0]
    np.testing.assert_allclose(smooth3(maps), got, atol=1e-6)
