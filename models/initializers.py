"""One helper shared by the graph builders (models/graph.py, padim_graph.py, flip_views.py): a numpy
array added to an ONNX graph as a named constant (initializer)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def constant(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    """Add `value` to `graph` as initializer `name`; returns the name, for a node's inputs."""
    graph.initializer.append(numpy_helper.from_array(value, name))
    return name
