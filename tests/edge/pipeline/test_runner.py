"""edge/pipeline/runner.py against a real tiny ONNX model in a real onnxruntime session."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from edge.errors import ModelError
from edge.pipeline import runner as runner_mod
from edge.pipeline.providers import resolve_providers
from edge.pipeline.runner import ModelRunner
from models.card import sidecar_path
from tests.tiny_model import tiny_card

RNG = np.random.default_rng(7)


def _frame(h: int = 240, w: int = 320) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_loads_runs_on_cpu_and_warms_up(tiny_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.pipeline.runner")
    with ModelRunner(tiny_model, providers=["cpu"], max_batch=4, intra_op_threads=1) as runner:
        assert runner.provider == "CPUExecutionProvider"
        assert set(runner.warm_latency_ms) == {1, 4}
        assert runner.input_buffer.shape == (4, 64, 64, 3) and runner.input_buffer.dtype == np.uint8
        out = runner.infer(2)
        assert out.probs.shape == (2, 4) and out.heatmap is not None and out.heatmap.shape == (2, 4, 4)
        np.testing.assert_allclose(out.probs.sum(axis=1), 1.0, rtol=1e-5)
    assert "model tiny.onnx runs on CPUExecutionProvider (requested: cpu)" in caplog.text


def test_tampered_weight_is_refused_with_sha_message(tiny_model: Path) -> None:
    model = onnx.load(str(tiny_model))
    w = next(i for i in model.graph.initializer if i.name == "W")
    arr = numpy_helper.to_array(w).copy()
    arr[1, 2] += 0.5
    w.CopyFrom(numpy_helper.from_array(arr, "W"))
    onnx.save(model, str(tiny_model))  # metadata (the old card) is kept
    with pytest.raises(ModelError, match=r"was modified after its card was written .*re-export it"):
        ModelRunner(tiny_model)


def test_wrong_input_shape_is_refused(tiny_model_factory: Callable[..., Path]) -> None:
    path = tiny_model_factory(size=32, card=tiny_card(size=64))
    with pytest.raises(ModelError, match=r"input 'image' has shape \['N', 32, 32, 3\] but its card says"):
        ModelRunner(path)


def test_unknown_and_missing_outputs_are_refused(tiny_model_factory: Callable[..., Path]) -> None:
    with pytest.raises(ModelError, match=r"output\(s\) \['logits_out'\] that its card does not describe"):
        ModelRunner(tiny_model_factory(name="extra", extra_output=True))
    with pytest.raises(ModelError, match=r"describes output\(s\) \['heatmap'\] that the model does not have"):
        ModelRunner(tiny_model_factory(name="nohm", heatmap=False, card=tiny_card(heatmap=True)))


def test_missing_card_and_disagreeing_sidecar(tiny_model: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.onnx"
    model = onnx.load(str(tiny_model))
    del model.metadata_props[:]
    onnx.save(model, str(bare))
    with pytest.raises(ModelError, match="has no card"):
        ModelRunner(bare)
    side = sidecar_path(tiny_model)
    card = json.loads(side.read_text())
    side.write_text(json.dumps({**card, "threshold": 0.2}))
    with pytest.raises(ModelError, match=r"disagree \(fields: threshold\)"):
        ModelRunner(tiny_model)


def test_unknown_provider_name_lists_allowed() -> None:
    with pytest.raises(ModelError, match="allowed: tensorrt, cuda, openvino, cpu"):
        resolve_providers(["gpu"])


def test_fallback_to_cpu_when_gpu_providers_missing(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No mock: this onnxruntime build has no TensorRT/CUDA, so both are skipped with a warning."""
    caplog.set_level(logging.INFO, logger="edge.pipeline.runner")
    runner = ModelRunner(tiny_model, providers=["tensorrt", "cuda"], warm_up=False)
    assert runner.provider == "CPUExecutionProvider"
    assert "tensorrt (TensorrtExecutionProvider) is not available" in caplog.text
    assert "cuda (CUDAExecutionProvider) is not available" in caplog.text
    assert "runs on CPUExecutionProvider (requested: tensorrt, cuda)" in caplog.text


def test_openvino_absent_falls_back_to_cpu_with_one_line(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No mock: this onnxruntime build (PyPI onnxruntime) has no OpenVINO provider; `providers: [openvino,
    cpu]` in station.yaml runs on CPU, and the log says so in exactly one warning line."""
    assert "OpenVINOExecutionProvider" not in ort.get_available_providers()
    caplog.set_level(logging.INFO, logger="edge.pipeline")
    with ModelRunner(tiny_model, providers=["openvino", "cpu"], max_batch=2) as runner:
        assert runner.provider == "CPUExecutionProvider"
        runner.input_buffer[...] = 100
        assert runner.infer(2).probs.shape == (2, 4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["execution provider openvino (OpenVINOExecutionProvider) is not available in this "
                        "onnxruntime build; skipping"]


def test_provider_list_and_trt_options_when_gpu_is_available(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """MOCK (only what cannot run here): get_available_providers pretends TensorRT and CUDA exist, and a
    spy records what reaches the real InferenceSession. The real session then runs on CPU, and the log
    must say so (the provider actually used, not the one requested).
    """
    monkeypatch.setattr(ort, "get_available_providers", lambda: [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    calls: list[list] = []
    real_session = ort.InferenceSession

    def spy(data: bytes, sess_options: ort.SessionOptions, providers: list) -> ort.InferenceSession:
        calls.append(providers)
        assert sess_options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        assert sess_options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
        assert sess_options.intra_op_num_threads == 2
        if len(calls) == 1:
            raise RuntimeError("simulated: libnvinfer.so not found")
        return real_session(data, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(runner_mod.ort, "InferenceSession", spy)
    caplog.set_level(logging.INFO, logger="edge.pipeline.runner")
    runner = ModelRunner(tiny_model, providers=["tensorrt", "cuda", "openvino"], intra_op_threads=2,
                         trt_cache_dir=tmp_path / "trt", trt_fp16=True, warm_up=False)
    assert calls[0] == [
        ("TensorrtExecutionProvider", {"trt_engine_cache_enable": "True", "trt_fp16_enable": "True",
                                       "trt_engine_cache_path": str(tmp_path / "trt")}),
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert calls[1] == ["CPUExecutionProvider"]  # the retry after accelerators failed to initialise
    assert "openvino (OpenVINOExecutionProvider) is not available" in caplog.text
    assert "retrying on CPU only" in caplog.text
    assert runner.provider == "CPUExecutionProvider"


def test_preprocess_writes_into_the_preallocated_buffer(tiny_model: Path) -> None:
    runner = ModelRunner(tiny_model, max_batch=4, warm_up=False)
    buffer_ptr = runner.input_buffer.ctypes.data
    runner.input_buffer[...] = 0
    frame, roi_xywh = _frame(), (40, 30, 200, 150)
    runner.preprocess_into(2, frame, roi_xywh)
    x, y, w, h = roi_xywh
    expected = cv2.resize(frame[y:y + h, x:x + w], (64, 64), interpolation=cv2.INTER_AREA)
    assert runner.input_buffer.ctypes.data == buffer_ptr  # the buffer was not replaced...
    np.testing.assert_array_equal(runner.input_buffer[2], expected)  # ...and holds the resized crop
    assert not runner.input_buffer[[0, 1, 3]].any()  # other slots untouched
    gray = frame[..., 1].copy()
    runner.preprocess_into(0, gray)
    np.testing.assert_array_equal(
        runner.input_buffer[0],
        cv2.cvtColor(cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR))
    with pytest.raises(ValueError, match="outside the 320x240 image"):
        runner.preprocess_into(1, frame, (300, 0, 64, 64))


def test_batch_equals_single_runs_and_outputs_are_reused_views(tiny_model: Path) -> None:
    runner = ModelRunner(tiny_model, max_batch=4)
    frames = [_frame() for _ in range(4)]
    for slot, frame in enumerate(frames):
        runner.preprocess_into(slot, frame, (0, 0, 160, 120))
    batch = runner.infer(4)
    batch_probs, batch_heat = batch.probs.copy(), batch.heatmap.copy()  # type: ignore[union-attr]
    for i, frame in enumerate(frames):
        runner.preprocess_into(0, frame, (0, 0, 160, 120))
        single = runner.infer(1)
        np.testing.assert_allclose(single.probs[0], batch_probs[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(single.heatmap[0], batch_heat[i], rtol=1e-5, atol=1e-6)  # type: ignore[index]
        assert np.shares_memory(single.probs, batch.probs)  # same preallocated output buffer


def test_a_lane_shares_the_session_but_not_the_buffers(tiny_model: Path) -> None:
    runner = ModelRunner(tiny_model, max_batch=2)
    lane = runner.lane()
    assert lane.session is runner.session and lane.card == runner.card
    assert not np.shares_memory(lane.input_buffer, runner.input_buffer)
    image = _frame()
    runner.preprocess_into(0, image)
    lane.preprocess_into(0, np.full_like(image, 200))
    first, second = runner.infer(1).probs.copy(), lane.infer(1).probs
    assert not np.allclose(first, second)  # each ran on its own input
    np.testing.assert_allclose(runner.infer(1).probs, first)
