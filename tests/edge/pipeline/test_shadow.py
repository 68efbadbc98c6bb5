"""Shadow mode with real ONNX models (the tiny test model and the shipped default) behind a real
triggered pipeline on a folder source: agreement computed right, a full queue drops the oldest and
counts it, and a crashing or stuck candidate never costs the active model a verdict."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.commands.replay_cmd import default_model
from edge.config import load_config
from edge.errors import ConfigError
from edge.pipeline.judge import Judge
from edge.pipeline.loop import WHOLE_FRAME, Cavity, Pipeline
from edge.pipeline.runner import ModelRunner
from edge.pipeline.shadow import Shadow, open_shadow
from edge.sinks.memory import MemorySink
from edge.triggers import SoftwareTrigger
from edge.verdict import Decision, ErrorCode
from tests.edge.pipeline.faulty_runner import EVERY_CALL, FaultyRunner
from tests.edge.pipeline.test_pipeline import triggered
from tests.tiny_model import write_noise_images, write_solid_images
from tests.waiting import wait_until

SHIPPED = default_model()
PARTS = 24
WAIT_S = 30.0


@pytest.fixture
def active(tiny_model: Path) -> Iterator[ModelRunner]:
    runner = ModelRunner(tiny_model, max_batch=2)
    yield runner
    runner.close()


def fire_all(pipeline: Pipeline, software: SoftwareTrigger, memory: MemorySink, n: int, n_cavities: int,
             first: int = 1) -> None:
    """Fire n triggers one after another, each once the previous one has all its verdicts."""
    for k in range(n):
        software.fire(part_id=first + k)
        wait_until(lambda k=k: len(memory.verdicts) >= (first - 1 + k + 1) * n_cavities,
                   f"the verdicts of trigger {first + k}", WAIT_S)


def one_verdict_per_cavity(memory: MemorySink, n: int, cavities: int) -> None:
    by_part: dict[int | None, list[int]] = {}
    for v in memory.verdicts:
        by_part.setdefault(v.part_id, []).append(v.cavity)
    assert sorted(by_part) == list(range(1, n + 1))
    assert all(sorted(c) == list(range(1, cavities + 1)) for c in by_part.values())


def test_a_candidate_identical_to_the_active_model_agrees_on_every_part(tmp_path: Path, active: ModelRunner,
                                                                         tiny_model: Path) -> None:
    """Two cavities per frame; the operator labelled every part by a rule the test knows."""
    images = write_solid_images(tmp_path / "images", PARTS)
    labels = {(p, c): ("ok" if (p + c) % 3 else "flash") for p in range(1, PARTS + 1) for c in (1, 2)}
    shadow = open_shadow(tiny_model, "v2", label_of=lambda part, cavity: labels.get((part, cavity)),
                         queue_size=PARTS)
    memory = MemorySink("test")
    cavities = (Cavity(1, (0, 0, 32, 64)), Cavity(2, (32, 0, 32, 64)))
    pipeline, software = triggered(images, active, [memory], cavities=cavities)
    pipeline.swap_shadow(shadow)
    shadow.start()
    try:
        fire_all(pipeline, software, memory, PARTS, 2)
    finally:
        pipeline.close()
        assert shadow.close()
    one_verdict_per_cavity(memory, PARTS, 2)
    view = shadow.view()
    assert (view["name"], view["version"], view["running"]) == ("tiny_defect", "v2", False)
    assert view["parts_offered"] == view["parts_judged"] == view["compared"] == 2 * PARTS
    assert (view["dropped"], view["errors"], view["disagreements"]) == (0, 0, [])
    assert view["agreement_active"] == 1.0
    decisions = {(v.part_id, v.cavity): v.decision for v in memory.verdicts}
    assert {d for d in decisions.values()} == {Decision.OK, Decision.NG}  # both sides of the threshold
    right = sum((labels[key] == "ok") == (d is Decision.OK) for key, d in decisions.items())
    assert view["labelled"] == 2 * PARTS
    assert view["agreement_labels"] == view["active_agreement_labels"] == round(right / (2 * PARTS), 4)


def test_a_candidate_with_a_higher_threshold_disagrees_on_the_parts_between(
        tmp_path: Path, active: ModelRunner, tiny_model: Path) -> None:
    """Active NG at P(defect) >= 0.5 (its card), the candidate only at >= 0.8: they disagree exactly on
    the parts scored in [0.5, 0.8), where the active model says NG and the candidate OK."""
    images = write_solid_images(tmp_path / "images", PARTS)
    candidate = ModelRunner(tiny_model, max_batch=1, intra_op_threads=1)
    shadow = Shadow(candidate, Judge.from_card(candidate.card, math.inf, threshold=0.8), "strict",
                    queue_size=PARTS)
    memory = MemorySink("test")
    pipeline, software = triggered(images, active, [memory])
    pipeline.swap_shadow(shadow)
    shadow.start()
    try:
        fire_all(pipeline, software, memory, PARTS, 1)
    finally:
        pipeline.close()
        assert shadow.close()
    expected = {v.part_id for v in memory.verdicts if v.score is not None and 0.5 <= v.score < 0.8}
    assert expected, "the solid images should score some parts between the two thresholds"
    view = shadow.view()
    assert {d["part_id"] for d in view["disagreements"]} == expected
    assert all((d["active"], d["shadow"]) == ("NG", "OK") for d in view["disagreements"])
    scores = {v.part_id: v.score for v in memory.verdicts}
    assert all(d["shadow_score"] == pytest.approx(scores[d["part_id"]], abs=1e-6)
               for d in view["disagreements"])
    assert view["agreement_active"] == round(1 - len(expected) / PARTS, 4)


def test_a_full_queue_drops_the_oldest_and_counts_it_while_the_active_model_answers(
        tmp_path: Path, active: ModelRunner, tiny_model: Path) -> None:
    """The candidate is stuck on its first part: the active model still answers every trigger at once,
    the queue keeps the newest two batches and every part it let go is counted."""
    images = write_noise_images(tmp_path / "images", 10, seed=4)
    gate = threading.Event()
    stuck = FaultyRunner(ModelRunner(tiny_model, max_batch=1, intra_op_threads=1), gate=gate)
    shadow = Shadow(stuck, Judge.from_card(stuck.card, math.inf), "stuck", queue_size=2)
    memory = MemorySink("test")
    pipeline, software = triggered(images, active, [memory])
    pipeline.swap_shadow(shadow)
    shadow.start()
    try:
        fire_all(pipeline, software, memory, 1, 1)
        wait_until(lambda: stuck.calls == 1, "the candidate stuck on the first part")
        fire_all(pipeline, software, memory, 9, 1, first=2)  # answered while the candidate is stuck
        wait_until(lambda: shadow.parts_offered == 10, "the tenth batch offered (after its hand-over)")
        assert shadow.view()["dropped"] == 7  # parts 2..8 gave way to parts 9 and 10
    finally:
        gate.set()
        pipeline.close()
        assert shadow.close()
    one_verdict_per_cavity(memory, 10, 1)
    view = shadow.view()
    assert (view["parts_offered"], view["parts_judged"], view["dropped"]) == (10, 3, 7)


def test_a_crashing_candidate_never_touches_the_active_verdicts(tmp_path: Path, active: ModelRunner,
                                                                tiny_model: Path) -> None:
    images = write_noise_images(tmp_path / "images", 12, seed=5)
    crashing = FaultyRunner(ModelRunner(tiny_model, max_batch=1, intra_op_threads=1), fail_calls=EVERY_CALL)

    def broken_labels(part: int | None, cavity: int) -> str | None:
        raise OSError("labels.csv unreadable")

    shadow = Shadow(crashing, Judge.from_card(crashing.card, math.inf), "crashing", label_of=broken_labels,
                    queue_size=64)
    memory = MemorySink("test")
    cavities = (Cavity(1, (0, 0, 32, 48)), Cavity(2, (32, 0, 32, 48)))
    pipeline, software = triggered(images, active, [memory], cavities=cavities)
    pipeline.swap_shadow(shadow)
    shadow.start()
    try:
        fire_all(pipeline, software, memory, 12, 2)
    finally:
        pipeline.close()
        assert shadow.close()
    one_verdict_per_cavity(memory, 12, 2)
    assert all(v.error_code is ErrorCode.NONE and v.decision is not Decision.NO_DECISION
               for v in memory.verdicts)
    view = shadow.view()
    assert view["errors"] == view["parts_judged"] == 24
    assert (view["compared"], view["agreement_active"], view["labelled"]) == (0, None, 0)


def test_the_shipped_model_as_its_own_candidate_agrees_on_every_part(tmp_path: Path) -> None:
    """The shipped model on simulator-like noise frames of four cavities, both as active and candidate."""
    images = write_noise_images(tmp_path / "images", 8, seed=6)
    runner = ModelRunner(SHIPPED, max_batch=4)
    shadow = open_shadow(SHIPPED, queue_size=16)
    memory = MemorySink("test")
    cavities = tuple(Cavity(i + 1, (16 * i, 0, 16, 48)) for i in range(4))
    pipeline, software = triggered(images, runner, [memory], cavities=cavities)
    pipeline.swap_shadow(shadow)
    shadow.start()
    try:
        fire_all(pipeline, software, memory, 8, 4)
    finally:
        pipeline.close()
        assert shadow.close()
        runner.close()
    one_verdict_per_cavity(memory, 8, 4)
    view = shadow.view()
    assert (view["parts_judged"], view["compared"], view["agreement_active"]) == (32, 32, 1.0)
    assert view["name"] == runner.card.name


def test_a_swap_takes_effect_between_batches_and_nothing_is_offered_after_the_swap_out(
        tmp_path: Path, active: ModelRunner, tiny_model: Path) -> None:
    images = write_noise_images(tmp_path / "images", 6, seed=7)
    shadow = open_shadow(tiny_model, queue_size=8)
    memory = MemorySink("test")
    pipeline, software = triggered(images, active, [memory], cavities=WHOLE_FRAME)
    shadow.start()
    try:
        fire_all(pipeline, software, memory, 2, 1)  # no shadow yet
        assert pipeline.swap_shadow(shadow) is None
        fire_all(pipeline, software, memory, 2, 1, first=3)
        assert pipeline.swap_shadow(None) is shadow
        fire_all(pipeline, software, memory, 2, 1, first=5)
    finally:
        pipeline.close()
        assert shadow.close()
    one_verdict_per_cavity(memory, 6, 1)
    assert shadow.view()["parts_offered"] == shadow.view()["parts_judged"] == 2


def test_bad_shadow_settings_are_one_clear_line(tmp_path: Path, tiny_model: Path) -> None:
    config = tmp_path / "station.yaml"
    config.write_text("station: {site: s, line: l, name: n}\nsource: {kind: sim, uri: '1'}\n"
                      f"model: {{path: {tiny_model}}}\nshadow: {{model: missing.onnx, queue_size: 0}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert "shadow.model" in lines[0] and "shadow model file not found" in lines[0]
    assert "shadow.queue_size" in lines[1]
