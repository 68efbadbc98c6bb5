"""`moldpilot train --start-from MODEL.onnx` (the teach page's training job starts from the active
model): the head is fitted on the start model's own network.

Real graphs throughout: the shipped default model as the start, real crops of the simulator's bezel
mold (which it has never seen), the real trainer and the CLI's one-line refusals."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge.cli import main
from edge.errors import ModelError
from edge.pipeline.int8_gate import check_int8_gate
from models.card import read_card
from models.features import run_arrays, session
from models.flip_views import one_view_of
from models.graph import feature_graph
from models.start_model import StartModelError, start_size, start_trunk
from models.trainer import inherited_quantization
from tests.edge.teach.teach_parts import SHIPPED

DEEP_TAP = "/tuned/tuned.13/Add_output_0"  # block 13 of the shipped network, as build_default exports it


def test_the_features_are_the_start_models_own_block_outputs() -> None:
    """The trunk ends at the shipped network's block 13 (the fine-tuned one, not ImageNet's): its
    global average, computed here from the shipped graph itself, is the features' b13 average."""
    shipped = one_view_of(onnx.load(str(SHIPPED)))
    shipped.graph.output.append(helper.make_tensor_value_info(DEEP_TAP, TensorProto.FLOAT, None))
    crops = np.random.default_rng(3).integers(0, 255, (3, 160, 160, 3), dtype=np.uint8)
    deep = run_arrays(session(shipped), crops, DEEP_TAP)  # [N, 96, 10, 10]
    features = run_arrays(session(feature_graph(start_size(SHIPPED), SHIPPED)), crops)
    channels = [24, 32, 64, 96]
    b13_avg = features[:, sum(channels[:3]):sum(channels)]  # pooling-major: avg of every tap comes first
    np.testing.assert_allclose(b13_avg, deep.mean(axis=(2, 3)), rtol=1e-4, atol=1e-5)
    imagenet = run_arrays(session(feature_graph(160)), crops)
    assert not np.allclose(features, imagenet, atol=1e-3)  # not the ImageNet backbone's features


def test_a_model_without_mobilenet_taps_is_refused_in_one_line(tiny_model: Path) -> None:
    with pytest.raises(StartModelError, match=r"no 24-channel tensor at stride 4.*leave out --start-from"):
        start_trunk(tiny_model, [(24, 4), (32, 8), (64, 16), (96, 16)])


def test_train_from_the_shipped_model_records_it_and_keeps_its_size(bezel_train: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "bezel.onnx"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["train", str(bezel_train), "--out", str(out), "--json",
                     "--start-from", str(SHIPPED)]) == 0
    summary = json.loads(stdout.getvalue())
    card = read_card(out)
    shipped = read_card(SHIPPED)
    assert card.provenance["start_from"]["sha256"] == shipped.sha256
    assert card.input.height_width == shipped.input.height_width
    screened = {tuple(c["height_width"]) for c in summary["training"]["selection"]["candidates"]}
    assert screened == {(160, 160)}  # no other size: the network learnt at its own
    # The shipped network is INT8: so is the new model, and it runs on the gate the trunk passed.
    assert shipped.quantization is not None and card.quantization is not None
    assert card.quantization["inherited_from"]["sha256"] == shipped.sha256
    check_int8_gate(out.read_bytes(), card, out.name)
    assert main(["eval", str(out), str(bezel_train), "--json"]) == 0


def test_a_trunk_whose_gate_failed_stays_refused_in_the_model_built_on_it() -> None:
    card = read_card(SHIPPED)
    assert card.quantization is not None
    card.quantization = {**card.quantization, "forced": True, "drop": 0.02}
    inherited = inherited_quantization(card)
    assert inherited is not None and inherited["forced"] is True
    with pytest.raises(ModelError, match="failed its INT8 accuracy gate"):
        check_int8_gate(SHIPPED.read_bytes(), card.model_copy(update={"quantization": inherited}), "m.onnx")


def test_cli_refuses_a_size_the_start_model_was_not_trained_at(bezel_train: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(bezel_train), "--out", str(tmp_path / "m.onnx"), "--start-from", str(SHIPPED),
                 "--size", "224"])
    err = capsys.readouterr().err
    assert code != 0 and "--size 224 does not match" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_model_the_trainer_wrote_starts_from_the_network_under_its_head(bezel_model: Path) -> None:
    """Teaching again from a taught model: its views and head are dropped, its trunk is kept. This one
    was trained on the ImageNet backbone, so its features are ImageNet's, bit for bit."""
    crops = np.random.default_rng(4).integers(0, 255, (2, 160, 160, 3), dtype=np.uint8)
    again = run_arrays(session(feature_graph(start_size(bezel_model), bezel_model)), crops)
    np.testing.assert_allclose(again, run_arrays(session(feature_graph(160)), crops), rtol=1e-5, atol=1e-5)
