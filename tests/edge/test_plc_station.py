"""End to end: `moldpilot run` (real pipeline, real ONNX model, folder source, 2 cavities) takes its
triggers from the virtual PLC over a pty cable and answers on the same link."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.verdict import Decision, ErrorCode
from sim.footage import FootageSettings, write_footage
from sim.pty_pair import PtyCable
from sim.virtual_plc.ascii_master import VirtualAsciiPlc
from sim.virtual_plc.modbus_master import VirtualModbusPlc
from sim.virtual_plc.record import ShotRecord, plan_from_timeline, synthetic_plan
from tests.recipe_models import MODEL_B, model_says
from tests.station_run import start_run, triggered_station, two_cavity_station, wait_for_text
from tests.tiny_model import tiny_card, write_solid_images

SHOTS = 8


@pytest.mark.parametrize("protocol", ["modbus-rtu", "ascii"])
def test_moldpilot_run_answers_the_plc_on_its_link(protocol: str, tiny_model: Path, tmp_path: Path) -> None:
    with PtyCable(tmp_path / "tty") as cable:
        plc_section = f"{{protocol: {protocol}, port: {cable.runtime_path}, unit_id: 3}}"
        config = two_cavity_station(tmp_path, tiny_model, plc_section, shots=SHOTS, seed=3)
        out, log = tmp_path / "verdicts.jsonl", tmp_path / "run.log"
        proc = start_run(config, out, log)
        try:
            wait_for_text(log, "serving on" if protocol != "ascii" else "ASCII link on")
            plan = synthetic_plan(SHOTS, first_part_id=500)
            if protocol == "ascii":
                with VirtualAsciiPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                    records = plc.run(plan)
            else:
                with VirtualModbusPlc(str(cable.plc_path), unit_id=3, result_timeout_s=20) as plc:
                    records = plc.run(plan)
            proc.send_signal(signal.SIGTERM)
            stdout, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0, log.read_text()
    assert [r.echo_part_id for r in records] == [p.part_id for p in plan]
    by_part: dict[int, list[dict]] = {}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        by_part.setdefault(row["part_id"], []).append(row)
    assert sorted(by_part) == [p.part_id for p in plan]
    for r in records:
        cavities = by_part[r.part_id]
        assert len(cavities) == 2
        worst = max(c["decision_code"] for c in cavities)
        assert r.verdict_code == worst
        if protocol != "ascii":
            rejected = [c["cavity"] for c in cavities if c["decision_code"] != 1]
            assert r.cavity_ng_mask == sum(1 << (cavity - 1) for cavity in rejected)
    final = json.loads(stdout.decode().strip().splitlines()[-1])
    assert final["plc"]["triggers"] == SHOTS


def run_recipe_shots(tmp_path: Path, model: str, recipes: str, recipe_of: list[int],
                     first_part_id: int) -> tuple[list[ShotRecord], Path, str]:
    """`moldpilot run` over a Modbus pty link with `model` and `recipes` (station.yaml flow mappings);
    the virtual PLC fires one shot per entry of `recipe_of` with that RECIPE_ID in HR 4, then SIGTERM.
    Returns the PLC's records, the JSONL of verdicts and the run's log (after a clean exit)."""
    images = write_solid_images(tmp_path / "images", len(recipe_of))
    with PtyCable(tmp_path / "tty") as cable:
        config = triggered_station(tmp_path / "station.yaml", f"kind: folder, uri: {images}", model,
                                   cable.runtime_path, f"recipes: {recipes}")
        out, log = tmp_path / "verdicts.jsonl", tmp_path / "run.log"
        proc = start_run(config, out, log)
        try:
            wait_for_text(log, "serving on")
            with VirtualModbusPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                records = []
                for shot, recipe_id in zip(synthetic_plan(len(recipe_of), first_part_id=first_part_id),
                                           recipe_of, strict=True):
                    plc.recipe_id = recipe_id  # HR 4, written with the trigger
                    records.append(plc.shot(shot))
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        finally:
            proc.kill()
    run_log = log.read_text()
    assert proc.returncode == 0, run_log
    return records, out, run_log


def test_recipe_id_written_to_hr4_selects_the_thresholds(tiny_model: Path, tmp_path: Path) -> None:
    """Over the Modbus pty link: recipe 7 (threshold 0) rejects every part, RECIPE_ID 0 keeps the card's
    threshold, and a RECIPE_ID the station does not know is NO_DECISION / UNKNOWN_RECIPE."""
    recipe_of = [7, 9, 0] * 4
    records, out, run_log = run_recipe_shots(tmp_path, f"{{path: {tiny_model}}}", "{7: {threshold: 0.0}}",
                                             recipe_of, first_part_id=700)
    score = {row["part_id"]: row["score"] for row in map(json.loads, out.read_text().splitlines())}
    by_recipe: dict[int, list[ShotRecord]] = {}
    for record, recipe_id in zip(records, recipe_of, strict=True):
        by_recipe.setdefault(recipe_id, []).append(record)
    assert {r.verdict_code for r in by_recipe[7]} == {Decision.NG}
    assert {(r.verdict_code, r.error_code) for r in by_recipe[9]} == {
        (Decision.NO_DECISION, ErrorCode.UNKNOWN_RECIPE)}
    assert all((r.verdict_code == Decision.NG) == (score[r.part_id] >= 0.5) for r in by_recipe[0])
    # The card's threshold passes some of recipe 0's parts: recipe 7 rejecting them all is its doing.
    assert {r.verdict_code for r in by_recipe[0]} == {Decision.OK, Decision.NG}
    assert "RECIPE_ID 9 is not in station.yaml recipes" in run_log


def test_recipe_ids_select_their_own_models_over_modbus(
    tiny_model_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """Over the Modbus pty link: RECIPE_ID 1 is judged by model A, RECIPE_ID 2 by model B (another graph,
    input size and class list), RECIPE_ID 0 by the model section's A. The score, verdict and defect
    class the PLC reads for each shot are the ones that recipe's model gives the part; each model file
    is loaded and warmed up once, before the link serves."""
    model_a = tiny_model_factory("a")
    model_b = tiny_model_factory("b", **MODEL_B)
    recipe_of = [1, 2, 0] * 4
    records, out, run_log = run_recipe_shots(tmp_path, "{path: a.onnx}",
                                             "{1: {model: a.onnx}, 2: {model: b.onnx}}", recipe_of,
                                             first_part_id=900)
    # One load and warm-up per model file (A serves recipes 0 and 1), all before the first trigger.
    serving_at = run_log.index("serving on")
    for name in ("a.onnx", "b.onnx"):
        warmed = f"model {name} warmed up"
        assert run_log.count(warmed) == 1 and run_log.index(warmed) < serving_at
    # What each model says of each image, run directly: the PLC must read exactly that.
    image_paths = sorted((tmp_path / "images").glob("*.png"))
    said = {1: model_says(model_a, image_paths), 2: model_says(model_b, image_paths)}
    said[0] = said[1]
    for i, (record, recipe_id) in enumerate(zip(records, recipe_of, strict=True)):
        expected = said[recipe_id][i]
        ng = expected.p_defect >= 0.5
        assert record.echo_part_id == record.part_id and record.error_code == 0
        assert abs(record.score_milli - round(expected.p_defect * 1000)) <= 1
        assert record.verdict_code == (Decision.NG if ng else Decision.OK)
        assert record.defect_class_code == (expected.defect_index if ng else 0)
    # The models disagree on some of recipe 2's parts, so the PLC saw B's verdicts, not A's.
    recipe_2 = [i for i, r in enumerate(recipe_of) if r == 2]
    assert any((said[1][i].p_defect >= 0.5) != (said[2][i].p_defect >= 0.5) for i in recipe_2)
    # B's own classes reached the PLC (indices A's card does not have).
    assert any(said[2][i].defect_index >= len(tiny_card().class_names) for i in recipe_2)
    # The result records (JSONL, as MQTT) carry the recipe each part was judged by.
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {row["part_id"] - 900: row["recipe_id"] for row in rows} == dict(enumerate(recipe_of))


def test_a_recording_replayed_to_a_plc_judges_each_trigger_on_its_own_shot(tiny_model: Path,
                                                                           tmp_path: Path) -> None:
    """Issue 17 item 1, the README's "Try it without a PLC": a triggered station on a recording with its
    timeline, triggered by the virtual PLC from that timeline, judges each trigger on its shot's trigger
    frame (not on the next frame of the file)."""
    footage = tmp_path / "line.avi"
    timeline = write_footage(footage, FootageSettings(shots=6, seed=7, cavities=2, fps=4, cycle_s=1.0,
                                                      cell_px=64))
    with PtyCable(tmp_path / "tty") as cable:
        config = triggered_station(tmp_path / "plc.yaml",
                                   f"kind: file, uri: {footage}, timeline: {footage}.timeline.json",
                                   f"{{path: {tiny_model}}}", cable.runtime_path)
        out, log = tmp_path / "verdicts.jsonl", tmp_path / "run.log"
        proc = start_run(config, out, log)
        try:
            wait_for_text(log, "serving on")
            with VirtualModbusPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                records = plc.run(plan_from_timeline(footage))
            proc.send_signal(signal.SIGTERM)
            stdout, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0, log.read_text()
    assert all(r.echo_part_id == r.part_id for r in records) and len(records) == 6
    trigger_frame = {s.part_ids[0]: s.trigger_frame for s in timeline.shots}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12  # 6 shots x 2 cavities
    assert all(row["frame_id"] == trigger_frame[row["part_id"]] for row in rows)
    assert json.loads(stdout.decode().strip().splitlines()[-1])["triggers_unmatched"] == 0
