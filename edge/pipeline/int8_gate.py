"""The runtime's INT8 rule: an INT8 graph runs only when its card says it passed the accuracy gate.

`moldpilot quantize` (models/quantize.py) measures FP32 and INT8 on a validation set and writes the INT8
model with a `quantization` record in its card: the figure before and after, the drop, the limit
(`max_drop`) and whether the limit was overridden (`forced`). A quantised graph is recognised by its
operators (QDQ or integer kernels), not by its name or card, so a card that omits the record cannot
pass an INT8 graph off as FP32. Refused: an INT8 graph without the record, and one whose record says
the gate failed (drop above the limit; written with --force for a benchmark, never for the line). The
card's sha256 (checked before this) ties the record to this very graph.
"""

from __future__ import annotations

from edge.errors import ModelError
from models.card import ModelCard
from models.onnx_wire import op_types

# What quantised arithmetic needs: activations quantised (QDQ's QuantizeLinear, the dynamic form) or
# integer kernels. A DequantizeLinear alone is int8 *storage* of constants, computed in float (the
# shipped good-only model keeps its design subspace that way, models/padim_graph.py): no accuracy gate.
INT8_OPS = frozenset({"QuantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
                      "DynamicQuantizeLinear"})


def is_int8(data: bytes) -> bool:
    """Whether the model file `data` computes in integers (its graph has one of INT8_OPS)."""
    return bool(op_types(data) & INT8_OPS)


def check_int8_gate(data: bytes, card: ModelCard, name: str) -> None:
    """ModelError with one line unless the model file `data` is float, or INT8 with a passed accuracy
    gate in `card`."""
    if not is_int8(data):
        return
    record = card.quantization
    if not record:
        raise ModelError(f"model {name} is an INT8 graph but its card has no quantization record (no "
                         "accuracy gate was passed); quantize the FP32 model with `moldpilot quantize`, or "
                         "use the FP32 model")
    drop, limit = record.get("drop"), record.get("max_drop")
    if not isinstance(drop, int | float) or not isinstance(limit, int | float):
        raise ModelError(f"model {name} is an INT8 graph whose card records no accuracy drop and limit; "
                         "quantize the FP32 model again with `moldpilot quantize`")
    if record.get("forced") or drop > limit:
        figure = record.get("figure", "accuracy")
        raise ModelError(f"model {name} failed its INT8 accuracy gate ({figure} dropped {drop:.4f}, limit "
                         f"{limit}; written with --force); the runtime refuses it: quantize again with more "
                         "calibration images, or use the FP32 model")
