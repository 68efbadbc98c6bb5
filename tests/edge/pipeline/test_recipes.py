"""Recipes with their own models: RECIPE_ID selects the model and the thresholds a part is judged by;
every model is loaded, checked against its card and warmed up at start, once per model file."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.errors import ModelError
from edge.frame import Frame
from edge.pipeline.build import open_recipes, replay_pipeline
from edge.pipeline.capture import Job
from edge.pipeline.loop import WHOLE_FRAME
from edge.sinks.memory import MemorySink
from edge.sources.folder import FolderSource
from edge.triggers import Trigger
from edge.verdict import Decision
from tests.recipe_models import MODEL_B, model_says, recipe_config
from tests.tiny_model import tiny_card, write_solid_images

N_IMAGES = 12
WAIT_S = 30.0


def test_each_model_file_is_loaded_once_and_shared_by_its_recipes(
    tmp_path: Path, tiny_model_factory: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.pipeline.runner")
    tiny_model_factory("a")
    tiny_model_factory("b", **MODEL_B)
    # Recipe 3 names the station's file by another spelling: still the same file, the same runner.
    config = recipe_config(tmp_path, "a.onnx",
                     "{1: {threshold: 0.2}, 2: {model: b.onnx}, 3: {model: ./a.onnx}, 4: {model: b.onnx, "
                     "threshold: 0.0}}")
    book = open_recipes(config, n_cavities=2, micro_batch=False)
    try:
        assert book.ids == [1, 2, 3, 4] and len(book.runners) == 2
        a, b = book.default.runner, book.select(2).runner
        assert book.select(None) is book.select(0) is book.default and book.select(9) is None
        assert book.select(1).runner is a and book.select(3).runner is a
        assert b is not a and book.select(4).runner is b
        assert a.max_batch == b.max_batch == 2 and book.max_batch == 2
        warmed = [r.getMessage() for r in caplog.records if "warmed up" in r.getMessage()]
        assert len(warmed) == 2 and "a.onnx" in warmed[0] and "b.onnx" in warmed[1]
        # Each recipe's thresholds are resolved over its own model's card.
        assert book.select(2).judge.class_names == b.card.class_names != a.card.class_names
        assert set(book.select(4).judge.thresholds.values()) == {0.0}
        # Another inference thread: its own buffers, still one runner per model file.
        lane = book.lane()
        assert len(lane.runners) == 2 and lane.select(3).runner is lane.default.runner
        assert lane.default.runner.input_buffer is not a.input_buffer
        assert lane.select(4).runner is lane.select(2).runner is not b
    finally:
        book.close()


def test_a_batch_mixing_two_models_judges_each_part_by_its_recipe(
    tmp_path: Path, tiny_model_factory: Callable[..., Path]
) -> None:
    model_a = tiny_model_factory("a")
    model_b = tiny_model_factory("b", **MODEL_B)
    images = sorted(write_solid_images(tmp_path / "images", N_IMAGES).glob("*.png"))
    config = recipe_config(tmp_path, "a.onnx", "{2: {model: b.onnx}}")
    book = open_recipes(config, n_cavities=1, micro_batch=True)

    def recipe_of(frame_id: int) -> int:
        return 2 if frame_id % 2 else 0  # each micro-batch holds parts of both models

    def select(frame: Frame) -> tuple[Job]:
        recipe_id = recipe_of(frame.frame_id)
        return (Job(Trigger(seq=frame.frame_id, t_trigger_s=frame.t_capture, recipe_id=recipe_id), frame),)

    memory = MemorySink()
    source = FolderSource(tmp_path / "images")
    source.open()
    pipeline = replay_pipeline(source, book, [memory], WHOLE_FRAME, select=select)
    pipeline.start()
    try:
        assert pipeline.done.wait(WAIT_S)
    finally:
        assert pipeline.close()
        book.close()
    said = {0: model_says(model_a, images), 2: model_says(model_b, images)}
    assert [v.frame_id for v in memory.verdicts] == list(range(N_IMAGES))
    for v in memory.verdicts:
        recipe_id = recipe_of(v.frame_id)
        p_defect, _, defect = said[recipe_id][v.frame_id]
        assert v.recipe_id == recipe_id
        # Batch size changes the kernels' summation order: scores agree to ~1e-5, not bit for bit.
        assert v.score == pytest.approx(p_defect, abs=1e-4)
        assert v.decision is (Decision.NG if p_defect >= 0.5 else Decision.OK)
        assert v.defect == (defect if v.decision is Decision.NG else None)
    # The two models really disagree on some of model B's parts: the test could tell them apart.
    assert any((said[0][i].p_defect >= 0.5) != (said[2][i].p_defect >= 0.5) for i in range(1, N_IMAGES, 2))


@pytest.mark.parametrize("fault", ["not onnx", "card mismatch"])
def test_a_bad_recipe_model_fails_at_start_with_one_line(
    fault: str, tmp_path: Path, tiny_model_factory: Callable[..., Path]
) -> None:
    tiny_model_factory("a")
    if fault == "not onnx":
        (tmp_path / "bad.onnx").write_bytes(b"this is not an ONNX model")
    else:  # a 4-class graph whose card claims 3 classes
        tiny_model_factory("bad", card=tiny_card(n_classes=3))
    config = recipe_config(tmp_path, "a.onnx", "{1: {threshold: 0.3}, 2: {model: bad.onnx}}")
    with pytest.raises(ModelError) as info:
        open_recipes(config, n_cavities=1, micro_batch=False)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"recipe 2 (recipes.2.model = {tmp_path / 'bad.onnx'}): ")


def test_moldpilot_run_refuses_a_bad_recipe_model_before_serving(
    tmp_path: Path, tiny_model_factory: Callable[..., Path]
) -> None:
    tiny_model_factory("a")
    (tmp_path / "bad.onnx").write_bytes(b"this is not an ONNX model")
    write_solid_images(tmp_path / "images", 1)
    recipe_config(tmp_path, "a.onnx", "{2: {model: bad.onnx}}")
    run = subprocess.run([sys.executable, "-m", "edge.cli", "run", "-c", str(tmp_path / "station.yaml")],
                         capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("moldpilot: error:")]
    assert len(errors) == 1 and "recipe 2 (recipes.2.model = " in errors[0] and "bad.onnx" in errors[0]
