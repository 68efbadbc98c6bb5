"""The loop with a real ONNX model and a real folder source: one verdict per trigger, deadlines, failing
and slow sinks, model faults, trigger overrun, free-run drops, and SIGTERM draining `moldpilot run`."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ConfigError
from edge.frame import Frame
from edge.pipeline.build import micro_batch_frames, open_recipes, replay_pipeline
from edge.pipeline.capture import Job, LatestFrames, LiveReader, TriggeredPullReader
from edge.pipeline.feeds import LatestFeed, QueueFeed
from edge.pipeline.judge import Judge
from edge.pipeline.loop import WHOLE_FRAME, Cavity, Pipeline
from edge.pipeline.recipes import RecipeBook
from edge.pipeline.runner import ModelRunner
from edge.sinks.base import FanOut
from edge.sinks.memory import MemorySink
from edge.sources.folder import FolderSource
from edge.triggers import SoftwareTrigger, Trigger, TriggerQueue
from edge.verdict import Decision, ErrorCode, Verdict
from tests.edge.pipeline.faulty_runner import FaultyRunner
from tests.recipe_models import recipe_config
from tests.tiny_model import write_noise_images, write_solid_images
from tests.waiting import wait_until

N_IMAGES = 24
WAIT_S = 20.0





@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_noise_images(tmp_path / "images", N_IMAGES, seed=1)


class RaisingSink:
    name, wants_evidence = "raising", False

    def open(self) -> None: ...

    def write(self, verdicts: Sequence[Verdict]) -> None:
        raise OSError("disk on fire")

    def close(self) -> None: ...


class GatedSink(MemorySink):
    """A slow sink with a short queue: every write waits until the gate opens."""

    queue_size = 2

    def __init__(self, gate: threading.Event) -> None:
        super().__init__("slow")
        self.gate = gate

    def write(self, verdicts: Sequence[Verdict]) -> None:
        assert self.gate.wait(WAIT_S)
        super().write(verdicts)


def triggered(
    images: Path, runner, sinks, deadline_ms: float = 5000, cavities=WHOLE_FRAME, trigger_queue: int = 64,
    job_queue: int = 64, recipes: RecipeBook | None = None,
) -> tuple[Pipeline, SoftwareTrigger]:
    """A triggered station on a folder: each trigger reads the next image. `recipes` default: `runner`
    with the card's thresholds and `deadline_ms`, as recipe 0 only."""
    source = FolderSource(images)
    source.open()
    # As edge/station.py does: the queue answers what it cannot take through the pipeline built next.
    triggers = TriggerQueue(trigger_queue, on_reject=lambda trigger: pipeline.reject(trigger))
    jobs: queue.Queue[Job | None] = queue.Queue(job_queue)
    recipes = recipes or RecipeBook.single(runner, Judge.from_card(runner.card, deadline_ms))
    pipeline = Pipeline(recipes, QueueFeed(jobs), FanOut(sinks), cavities,
                        TriggeredPullReader(source, triggers, jobs), triggers)
    pipeline.start()
    return pipeline, SoftwareTrigger(triggers)


@pytest.fixture
def runner(tiny_model: Path) -> ModelRunner:
    return ModelRunner(tiny_model, max_batch=2)


def test_every_trigger_gets_exactly_one_verdict_per_cavity(images: Path, runner: ModelRunner) -> None:
    memory = MemorySink()
    cavities = (Cavity(1, (0, 0, 32, 48)), Cavity(2, (32, 0, 32, 48)))
    pipeline, trigger = triggered(images, runner, [memory], cavities=cavities)
    for part_id in range(100, 100 + N_IMAGES):
        trigger.fire(part_id=part_id)
    assert pipeline.close()
    verdicts = memory.verdicts
    assert len(verdicts) == 2 * N_IMAGES
    expected = [(seq, cavity) for seq in range(1, N_IMAGES + 1) for cavity in (1, 2)]
    assert sorted((v.seq, v.cavity) for v in verdicts) == expected
    assert {v.part_id - v.seq for v in verdicts} == {99}
    assert [v.frame_id for v in verdicts if v.cavity == 1] == list(range(N_IMAGES))  # folder order
    assert {v.decision for v in verdicts} <= {Decision.OK, Decision.NG}
    snap = pipeline.snapshot()
    assert snap["triggers"] == N_IMAGES and snap["frames_judged"] == N_IMAGES
    assert snap["sinks"]["memory"] == {"delivered": 2 * N_IMAGES, "dropped": 0, "errors": 0, "queued": 0,
                                      "skipped": 0}


def test_trigger_after_the_last_image_is_answered_no_frame(images: Path, runner: ModelRunner) -> None:
    memory = MemorySink()
    pipeline, trigger = triggered(images, runner, [memory])
    for _ in range(N_IMAGES + 2):
        trigger.fire()
    assert pipeline.close()
    tail = [(v.decision, v.error_code) for v in memory.verdicts[-2:]]
    assert tail == [(Decision.NO_DECISION, ErrorCode.NO_FRAME)] * 2


def test_a_missed_deadline_is_no_decision_and_counted(images: Path, runner: ModelRunner) -> None:
    # 1 microsecond: no real trigger-read-infer path can make it, so every verdict is late.
    memory = MemorySink()
    pipeline, trigger = triggered(images, runner, [memory], deadline_ms=0.001)
    for _ in range(5):
        trigger.fire()
    assert pipeline.close()
    assert [(v.decision, v.error_code) for v in memory.verdicts] == [
        (Decision.NO_DECISION, ErrorCode.DEADLINE_MISSED)] * 5
    assert all(v.score is not None for v in memory.verdicts)  # what the model said stays visible
    assert pipeline.snapshot()["deadline_misses"] == 5


def test_a_slow_sink_drops_for_itself_only_and_delays_no_verdict(images: Path, runner: ModelRunner) -> None:
    gate, memory = threading.Event(), MemorySink()
    slow = GatedSink(gate)
    pipeline, trigger = triggered(images, runner, [slow, memory], deadline_ms=2000)
    for _ in range(N_IMAGES):
        trigger.fire()
    wait_until(lambda: pipeline.stats.snapshot()["triggers"] == N_IMAGES)
    gate.set()
    assert pipeline.close()
    sinks = pipeline.snapshot()["sinks"]
    assert len(memory.verdicts) == N_IMAGES and sinks["memory"]["dropped"] == 0
    assert sinks["slow"]["dropped"] > 0
    assert sinks["slow"]["delivered"] + sinks["slow"]["dropped"] == N_IMAGES
    assert all(v.error_code is ErrorCode.NONE for v in memory.verdicts)  # nobody waited on the slow sink


def test_a_sink_that_raises_is_counted_and_the_loop_goes_on(images: Path, runner: ModelRunner) -> None:
    memory = MemorySink()
    pipeline, trigger = triggered(images, runner, [RaisingSink(), memory])
    for _ in range(6):
        trigger.fire()
    assert pipeline.close()
    assert len(memory.verdicts) == 6
    assert pipeline.snapshot()["sinks"]["raising"]["errors"] == 6


def test_a_model_fault_is_no_decision_for_its_batch_only(images: Path, runner: ModelRunner) -> None:
    memory = MemorySink()
    pipeline, trigger = triggered(images, FaultyRunner(runner, fail_calls=[2]), [memory])
    for _ in range(4):
        trigger.fire()
    assert pipeline.close()
    errors = [v.error_code for v in memory.verdicts]
    assert errors == [ErrorCode.NONE, ErrorCode.MODEL_ERROR, ErrorCode.NONE, ErrorCode.NONE]
    assert memory.verdicts[1].decision is Decision.NO_DECISION and memory.verdicts[1].score is None


def test_triggers_beyond_the_queue_are_answered_overrun(images: Path, runner: ModelRunner) -> None:
    gate, memory = threading.Event(), MemorySink()
    held = FaultyRunner(runner, gate=gate)
    # At most 1 in the model + 1 in the job queue + 1 held by the reader + 2 in the trigger queue.
    pipeline, trigger = triggered(images, held, [memory], trigger_queue=2, job_queue=1)
    fired = [trigger.fire() for _ in range(12)]
    gate.set()
    assert pipeline.close()
    verdicts = memory.verdicts
    assert sorted(v.seq for v in verdicts) == [t.seq for t in fired]
    overrun = [v for v in verdicts if v.error_code is ErrorCode.TRIGGER_OVERRUN]
    assert len(overrun) >= 7 and all(v.decision is Decision.NO_DECISION for v in overrun)
    assert pipeline.snapshot()["triggers_rejected"] == len(overrun)


class Camera:
    """A live source stand-in (no camera here): frames as fast as asked, until told to stop."""

    name, is_live, fps, frame_count = "test camera", True, None, None

    def __init__(self, frames: int) -> None:
        self.left = frames

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None:
        self.left -= 1
        return np.full((48, 64, 3), 100, np.uint8) if self.left >= 0 else None

    def close(self) -> None: ...


def test_free_run_on_a_live_source_counts_every_frame_it_skips(runner: ModelRunner) -> None:
    gate, memory = threading.Event(), MemorySink()
    ring = LatestFrames(depth=4)
    reader = LiveReader(Camera(200), ring)
    judge = Judge.from_card(runner.card, 5000)
    pipeline = Pipeline(RecipeBook.single(FaultyRunner(runner, gate=gate), judge), LatestFeed(ring),
                        FanOut([memory]), reader=reader, ring=ring)
    pipeline.start()
    wait_until(lambda: reader.frames_in == 200)  # the model is held: the camera runs ahead
    gate.set()
    pipeline.done.wait(WAIT_S)
    assert pipeline.close()
    snap = pipeline.snapshot()
    assert snap["frames_dropped"] > 0
    assert snap["frames_judged"] + snap["frames_dropped"] == snap["frames_in"] == 200
    assert memory.verdicts[-1].frame_id == 199  # the newest frame wins


def test_sigterm_drains_run_and_loses_no_verdict(images: Path, tiny_model: Path, tmp_path: Path) -> None:
    config = tmp_path / "station.yaml"
    config.write_text(
        "station: {site: s, line: l, name: press1}\n"
        f"source: {{kind: folder, uri: {images}, mode: triggered}}\n"
        f"model: {{path: {tiny_model}}}\n"
        "deadline_ms: 5000\n",
        encoding="utf-8",
    )
    out = tmp_path / "verdicts.jsonl"
    cmd = [sys.executable, "-m", "edge.cli", "run", "-c", str(config), "--jsonl", str(out),
           "--stdin-triggers"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdin is not None
        proc.stdin.write("".join(f"{1000 + i}\n" for i in range(N_IMAGES)).encode())
        proc.stdin.flush()
        wait_until(lambda: out.exists() and out.read_text().count("\n") >= 1, "the first JSONL line", 60)
        proc.send_signal(signal.SIGTERM)  # mid-run: most triggers are still queued or unread
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr.decode()
    final = json.loads(stdout.decode().strip().splitlines()[-1])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert final["triggers"] >= 1 and len(lines) == final["triggers"]  # every accepted trigger answered
    assert len({v["seq"] for v in lines}) == len(lines)
    assert final["sinks"]["jsonl"]["dropped"] == 0


def test_evidence_is_attached_for_rejected_parts(images: Path, runner: ModelRunner) -> None:
    keeper = MemorySink("evidence", evidence_limit=100)
    cavities = (Cavity(1, (0, 0, 32, 48)), Cavity(2, (32, 0, 32, 48)))
    pipeline, trigger = triggered(images, runner, [keeper], cavities=cavities)
    for _ in range(4):
        trigger.fire()
    assert pipeline.close()
    rejected = [v for v in keeper.verdicts if v.decision is not Decision.OK]
    assert len(keeper.evidence) == len(rejected) > 0
    for verdict, evidence in keeper.evidence:
        assert evidence.crop_bgr.shape == (48, 32, 3) and evidence.heatmap is not None
        assert evidence.roi_xywh == cavities[verdict.cavity - 1].roi_xywh



def test_lanes_judge_every_frame_and_hand_verdicts_over_in_order(images: Path, runner: ModelRunner) -> None:
    memory = MemorySink()
    source = FolderSource(images)
    source.open()
    # Three inference threads on one session; batches finish in any order, verdicts leave in order.
    pipeline = replay_pipeline(source, RecipeBook.single(runner, Judge.from_card(runner.card, 60_000)),
                               [memory], WHOLE_FRAME, lanes=3)
    pipeline.start()
    assert pipeline.done.wait(WAIT_S)
    assert pipeline.close()
    assert [v.frame_id for v in memory.verdicts] == list(range(N_IMAGES))
    assert pipeline.snapshot()["frames_judged"] == N_IMAGES
    assert all(v.decision is not Decision.NO_DECISION for v in memory.verdicts)


# ---- recipes: the PLC's RECIPE_ID (HR 4) selects a threshold set from station.yaml ----------------------


@pytest.fixture
def solid_images(tmp_path: Path) -> Path:
    return write_solid_images(tmp_path / "solid", N_IMAGES)


def assert_card_thresholds(verdicts: Sequence[Verdict], card_threshold: float) -> None:
    """The model section's set (the card's 0.5 here) decided these parts, and it let some pass: so a
    recipe that rejects everything is a real difference, not what the card does anyway."""
    assert all((v.decision is Decision.NG) == (v.score >= card_threshold) for v in verdicts)
    assert any(v.decision is Decision.OK for v in verdicts)


def test_recipe_id_selects_the_threshold_set_per_trigger(
    solid_images: Path, runner: ModelRunner, tmp_path: Path, tiny_model: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = recipe_config(tmp_path, tiny_model, "{7: {threshold: 0.0}}")
    memory = MemorySink()
    recipes = open_recipes(config, 1, micro_batch=False)
    pipeline, trigger = triggered(solid_images, runner, [memory], recipes=recipes)
    recipe_of = [0, 7, None, 9] * (N_IMAGES // 4)  # None: a trigger without a recipe (ASCII link)
    for seq, recipe_id in enumerate(recipe_of, start=1):
        trigger.queue.submit(Trigger(seq=seq, t_trigger_s=time.monotonic(), part_id=1000 + seq,
                                     recipe_id=recipe_id))
    assert pipeline.close()
    by_recipe: dict[int | None, list[Verdict]] = {}
    for v in memory.verdicts:
        by_recipe.setdefault(recipe_of[v.seq - 1], []).append(v)
    assert {r: len(vs) for r, vs in by_recipe.items()} == {0: 6, 7: 6, None: 6, 9: 6}
    # Each verdict names the recipe it was judged by; a trigger without one used recipe 0.
    used = {r: {v.recipe_id for v in vs} for r, vs in by_recipe.items()}
    assert used == {0: {0}, 7: {7}, None: {0}, 9: {9}}
    # Threshold 0.0: every part of recipe 7 is NG, whatever its score.
    assert all(v.decision is Decision.NG and v.defect for v in by_recipe[7])
    assert_card_thresholds(by_recipe[0] + by_recipe[None], runner.card.threshold)
    # A recipe the station does not know: NO_DECISION (the PLC rejects), never judged, logged once.
    assert {(v.decision, v.error_code, v.score) for v in by_recipe[9]} == {
        (Decision.NO_DECISION, ErrorCode.UNKNOWN_RECIPE, None)}
    assert pipeline.snapshot()["errors"]["UNKNOWN_RECIPE"] == 6
    assert sum("RECIPE_ID 9 " in r.getMessage() for r in caplog.records) == 1


def test_a_micro_batch_mixing_recipes_scores_each_part_by_its_own(
    solid_images: Path, runner: ModelRunner, tmp_path: Path, tiny_model: Path
) -> None:
    # threads 1: replay on one lane, which micro-batches frames (CPU lanes run one crop a model call)
    config = recipe_config(tmp_path, tiny_model, "{3: {threshold: 0.0}}", threads=1)
    memory = MemorySink()
    source = FolderSource(solid_images)
    source.open()

    def recipe_of(frame_id: int) -> int:
        return 3 if frame_id % 2 else 0  # each batch of several frames holds parts of both recipes

    def select(frame: Frame) -> tuple[Job]:
        return (Job(Trigger(seq=frame.frame_id, t_trigger_s=frame.t_capture,
                            recipe_id=recipe_of(frame.frame_id)), frame),)

    recipes = open_recipes(config, 1, micro_batch=True)
    pipeline = replay_pipeline(source, recipes, [memory], WHOLE_FRAME, select=select)
    pipeline.start()
    assert pipeline.done.wait(WAIT_S)
    assert pipeline.close()
    assert recipes.max_batch == micro_batch_frames(1) > 1
    assert len(recipes.runners) == 1 and len(memory.verdicts) == N_IMAGES
    assert all(v.decision is Decision.NG for v in memory.verdicts if recipe_of(v.frame_id) == 3)
    assert_card_thresholds([v for v in memory.verdicts if recipe_of(v.frame_id) == 0], runner.card.threshold)


def test_a_recipe_naming_an_unknown_defect_is_a_one_line_config_error(
    tmp_path: Path, tiny_model: Path
) -> None:
    config = recipe_config(tmp_path, tiny_model, "{3: {thresholds: {flsh: 0.2}}}")
    with pytest.raises(ConfigError) as info:
        open_recipes(config, 1, micro_batch=False)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert "recipes.3.thresholds" in message and "'flsh'" in message and "flash" in message
