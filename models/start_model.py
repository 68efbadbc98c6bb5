"""A MoldPilot model's own network as the trainer's backbone: `moldpilot train --start-from MODEL.onnx`.

Why: a station's model has learnt what defects look like; the ImageNet backbone has not. The shipped
default was fine-tuned on 20,000 simulator crops (models/default/build_default.py), and its block outputs
tell a sink mark from a housing's own rib, which ImageNet features do not. Teaching it a new mold then
needs only a new head on those features, fitted torch-free by the trainer as on the ImageNet taps. The
shipped default's network is INT8; a model built on it is too, and carries its gate record
(models/trainer.py `inherited_quantization`). Measured, with the previous default's (sim_parts_v2) network,
on a mold it had never seen (the simulator's bezel: `moldpilot train` on 196 labelled crops of
shots 1-50 of one recording, `moldpilot eval` on 421 crops of its shots 51-160): from the shipped
model's network 12 escapes of 108 defects and 2 false rejects of 313 good parts; from ImageNet's, 50
escapes and 1 false reject; the same cost per crop (both are MobileNetV2 up to block 13).

What is taken: the four taps of models/backbone's card (channels and stride of MobileNetV2 blocks 3, 6,
10 and 13), found in the model's graph as the last tensor of each tap's shape; the model's own
pre-processing stays in front of them. Any MobileNetV2-based MoldPilot model has them: the shipped
default, a model `moldpilot train` wrote (started from ImageNet or from another model), with or without
its test-time views (models/flip_views.py). The input size is the model's own: its network learnt at it.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import shape_inference
from onnx.utils import Extractor

from models.card import read_card
from models.flip_views import one_view_of

Shape = tuple[int, int]  # (height, width) in pixels


class StartModelError(ValueError):
    """The model cannot be a backbone: one line saying why and what to use instead."""


def start_size(path: str | Path) -> Shape:
    """(height, width) the model's network takes: its card's input size (CardError without a card)."""
    spec = read_card(path).input
    if spec.dtype != "uint8" or spec.layout != "NHWC" or not spec.normalize_in_graph:
        raise StartModelError(f"{path}: its graph does not take uint8 NHWC pixels with the pre-processing "
                              "inside; start from a model `moldpilot train` or the kit wrote")
    return spec.resize.height, spec.resize.width


def start_trunk(path: str | Path, taps: list[tuple[int, int]]) -> tuple[onnx.ModelProto, list[str]]:
    """The model's graph from its uint8 `image` input up to the tensors of `taps` ((channels, stride)
    each, shallow first), with nothing after them; returns it and the tap tensors' names."""
    height, width = start_size(path)  # reads the file: a broken one stops here with its reason
    model = one_view_of(onnx.load(str(path)))
    inferred = shape_inference.infer_shapes(model)
    shapes = {value.name: [d.dim_value for d in value.type.tensor_type.shape.dim]
              for value in inferred.graph.value_info}
    names: list[str] = []
    for channels, stride in taps:
        wanted = [channels, -(-height // stride), -(-width // stride)]
        found = [out for node in model.graph.node for out in node.output if shapes.get(out, [])[1:] == wanted]
        if not found:
            raise StartModelError(
                f"{path}: no {channels}-channel tensor at stride {stride} ({wanted[1]}x{wanted[2]} cells): "
                "only a MobileNetV2-based MoldPilot model (the shipped default or one `moldpilot train` "
                "wrote) can be started from; leave out --start-from to train on the ImageNet backbone")
        names.append(found[-1])  # the block's output: the last tensor of its shape before the next stride
    input_name = model.graph.input[0].name
    trunk = Extractor(inferred).extract_model([input_name], names)
    return trunk, names
