"""The runtime runs an INT8 graph only when its card says it passed the accuracy gate (edge/pipeline/
int8_gate.py): real onnxruntime static quantisation of the tiny model, loaded by the real runner and CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from edge.cli import main
from edge.errors import ModelError
from edge.pipeline.runner import ModelRunner
from models.card import ModelCard, save_model
from tests.tiny_model import TINY_SIZE, build_tiny_graph, tiny_card

PASSED = {"method": "test", "figure": "accuracy", "drop": 0.002, "max_drop": 0.01, "forced": False}


class _Noise(CalibrationDataReader):
    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            [{"image": rng.integers(0, 256, (4, TINY_SIZE, TINY_SIZE, 3), np.uint8)} for _ in range(3)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


@pytest.fixture(scope="module")
def int8_graph(tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    folder = tmp_path_factory.mktemp("int8")
    onnx.save(build_tiny_graph(), str(folder / "fp32.onnx"))
    quantize_static(str(folder / "fp32.onnx"), str(folder / "int8.onnx"), _Noise(),
                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    model = onnx.load(str(folder / "int8.onnx"))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in model.graph.node}
    return model


def _saved(model: onnx.ModelProto, quantization: dict | None, path: Path) -> Path:
    card: ModelCard = tiny_card()
    card.quantization = quantization
    save_model(onnx.ModelProto.FromString(model.SerializeToString()), card, path)
    return path


def test_an_int8_graph_that_passed_its_gate_runs(int8_graph: onnx.ModelProto, tmp_path: Path) -> None:
    with ModelRunner(_saved(int8_graph, PASSED, tmp_path / "ok.onnx"), max_batch=2) as runner:
        runner.input_buffer[...] = 90
        assert runner.infer(2).probs.shape == (2, 4)


@pytest.mark.parametrize(("record", "says"), [
    (None, "no quantization record"),
    ({**PASSED, "drop": 0.03, "forced": True}, "failed its INT8 accuracy gate"),
    ({**PASSED, "drop": 0.03}, "failed its INT8 accuracy gate"),
    ({"method": "test"}, "records no accuracy drop"),
])
def test_an_int8_graph_without_a_passed_gate_is_refused(int8_graph: onnx.ModelProto, tmp_path: Path,
                                                        record: dict | None, says: str) -> None:
    with pytest.raises(ModelError, match=says):
        ModelRunner(_saved(int8_graph, record, tmp_path / "refused.onnx"))


def test_eval_refuses_it_with_one_line(int8_graph: onnx.ModelProto, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    model = _saved(int8_graph, {**PASSED, "drop": 0.03, "forced": True}, tmp_path / "forced.onnx")
    assert main(["eval", str(model), str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "failed its INT8 accuracy gate" in err[0] and "Traceback" not in err[0]
