"""End to end: `moldpilot run` (real pipeline, real ONNX model, folder source, 2 cavities) takes its
triggers from the virtual PLC over a pty cable and answers on the same link."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.verdict import Decision, ErrorCode
from sim.pty_pair import PtyCable
from sim.virtual_plc.ascii_master import VirtualAsciiPlc
from sim.virtual_plc.modbus_master import VirtualModbusPlc
from sim.virtual_plc.record import ShotRecord, synthetic_plan
from tests.tiny_model import write_solid_images

SHOTS = 8


def wait_for_text(path: Path, text: str, timeout_s: float = 60.0) -> None:
    deadline_s = time.monotonic() + timeout_s
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline_s, f"{text!r} never appeared in {path}"
        time.sleep(0.05)


def start_run(config: Path, out: Path, log: Path) -> subprocess.Popen[bytes]:
    """`moldpilot run -c config --jsonl out` as a child process, its log in `log`, cwd beside config."""
    with log.open("w") as stderr:
        command = [sys.executable, "-m", "edge.cli", "run", "-c", str(config), "--jsonl", str(out)]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, cwd=config.parent,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.parametrize("protocol", ["modbus-rtu", "ascii"])
def test_moldpilot_run_answers_the_plc_on_its_link(protocol: str, tiny_model: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for i in range(SHOTS):
        cv2.imwrite(str(images / f"{i:03d}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    with PtyCable(tmp_path / "tty") as cable:
        config = tmp_path / "station.yaml"
        config.write_text(
            "station: {site: s, line: l, name: press1}\n"
            f"source: {{kind: folder, uri: {images}, mode: triggered}}\n"
            f"model: {{path: {tiny_model}}}\n"
            "cavities: [{id: 1, roi: [0, 0, 32, 48]}, {id: 2, roi: [32, 0, 32, 48]}]\n"
            "deadline_ms: 5000\n"
            f"plc: {{protocol: {protocol}, port: {cable.runtime_path}, unit_id: 3}}\n",
            encoding="utf-8",
        )
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


def test_recipe_id_written_to_hr4_selects_the_thresholds(tiny_model: Path, tmp_path: Path) -> None:
    """Over the Modbus pty link: recipe 7 (threshold 0) rejects every part, RECIPE_ID 0 keeps the card's
    threshold, and a RECIPE_ID the station does not know is NO_DECISION / UNKNOWN_RECIPE."""
    recipe_of = [7, 9, 0] * 4
    images = write_solid_images(tmp_path / "images", len(recipe_of))
    with PtyCable(tmp_path / "tty") as cable:
        config = tmp_path / "station.yaml"
        config.write_text(
            "station: {site: s, line: l, name: press1}\n"
            f"source: {{kind: folder, uri: {images}, mode: triggered}}\n"
            f"model: {{path: {tiny_model}}}\n"
            "deadline_ms: 5000\n"
            f"plc: {{protocol: modbus-rtu, port: {cable.runtime_path}}}\n"
            "recipes: {7: {threshold: 0.0}}\n",
            encoding="utf-8",
        )
        out, log = tmp_path / "verdicts.jsonl", tmp_path / "run.log"
        proc = start_run(config, out, log)
        try:
            wait_for_text(log, "serving on")
            with VirtualModbusPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                records = []
                for shot, recipe_id in zip(synthetic_plan(len(recipe_of), first_part_id=700), recipe_of,
                                           strict=True):
                    plc.recipe_id = recipe_id  # HR 4, written with the trigger
                    records.append(plc.shot(shot))
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0, log.read_text()
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
    assert "RECIPE_ID 9 is not in station.yaml recipes" in log.read_text()
