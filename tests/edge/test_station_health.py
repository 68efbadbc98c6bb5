"""The health watch in a running station: each camera fault rendered into real footage sets its HR 114
bit and STATUS ERROR over a real pty Modbus link within 5 shots, turns verdicts into NO_DECISION
(HEALTH_FAULT) where station.yaml makes it fail safe, and clears when the fault ends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.cli import main
from edge.commands.replay_cmd import default_model
from edge.config import HealthSection, SourceSection, load_config
from edge.doctor.health import check_health
from edge.doctor.result import Status
from edge.health.conditions import Condition
from edge.health.reference import Reference
from edge.station import Station
from plc_bridge.modbus import register_map as m
from sim.faults import parse_fault
from sim.footage import FootageSettings, write_footage
from sim.pty_pair import PtyCable
from sim.virtual_plc.modbus_master import VirtualModbusPlc
from sim.virtual_plc.record import plan_from_timeline
from tests.health_runs import EXPECTED, SMALL_FOOTAGE
from tests.station_run import triggered_station
from tests.waiting import wait_until

FAULT_FIRST, FAULT_LAST, SHOTS = 12, 16, 22
CYCLE_S = 0.7  # the PLC's rhythm: longer than the feed's sampling interval, so every shot is checked


def run_line(tmp_path: Path, model: Path, fault: str, fail_safe: str) -> tuple[list[int], list[int], Station]:
    """Footage with `fault` from shot FAULT_FIRST to FAULT_LAST, its reference from shots 1-10, then a
    station judging every shot for the virtual PLC over a pty Modbus link at the press's rhythm.
    Returns HR 114 and STATUS as the PLC read them after each shot, and the closed station."""
    footage = tmp_path / "line.avi"
    faults = (parse_fault(f"{fault}@{FAULT_FIRST}:{FAULT_LAST}"),)
    write_footage(footage, FootageSettings(shots=SHOTS, seed=21, **SMALL_FOOTAGE, faults=faults))  # type: ignore[arg-type]
    with PtyCable(tmp_path / "tty") as cable:
        config_path = triggered_station(
            tmp_path / "station.yaml", f"kind: file, uri: {footage}", f"{{path: {model}}}",
            cable.runtime_path, f"health: {{reference: health, fail_safe: [{fail_safe}], sample_s: 0.3}}")
        assert main(["health", "reference", "-c", str(config_path), "--shots", "10"]) == 0
        station = Station(load_config(config_path))
        station.start()
        health, status = [], []
        try:
            with VirtualModbusPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                for plan in plan_from_timeline(footage):
                    t0_s = time.monotonic()
                    assert plc.shot(plan).arrived
                    wait_until(
                        lambda n=plan.shot: station.pipeline.stats.snapshot()["triggers"] >= n,
                        "the shot's verdicts",
                    )
                    time.sleep(max(0.0, t0_s + CYCLE_S - time.monotonic()))  # the press's rhythm
                    health.append(plc.read(m.HR_HEALTH, 1)[0])
                    status.append(plc.read(m.HR_STATUS, 1)[0])
        finally:
            assert station.close()
    return health, status, station


def first_raised(health: list[int], condition: Condition) -> int | None:
    return next((shot for shot, bits in enumerate(health, start=1) if bits & condition.bit), None)


def test_a_knocked_camera_is_reported_to_the_plc_and_fails_safe(tiny_model: Path, tmp_path: Path) -> None:
    health, status, station = run_line(tmp_path, tiny_model, "camera-shift", "camera_moved")
    shot = first_raised(health, Condition.CAMERA_MOVED)
    assert shot is not None and FAULT_FIRST <= shot <= FAULT_FIRST + 5, health  # detected within 5 shots
    assert status[shot - 1] & m.ST_ERROR  # STATUS ERROR with it
    assert health[-1] == 0 and not status[-1] & m.ST_ERROR, health  # cleared once the camera is back
    assert station.snapshot()["errors"]["HEALTH_FAULT"] >= 1  # parts not judged on the wrong pixels
    assert station.view().latest_verdicts[1].error_code == 0  # judged again at the end


@pytest.mark.parametrize("kind", sorted(set(EXPECTED) - {"camera-shift"}))
def test_every_fault_kind_sets_its_hr114_bit_and_clears(kind: str, tiny_model: Path, tmp_path: Path) -> None:
    condition = EXPECTED[kind]  # type: ignore[index]
    health, _, station = run_line(tmp_path, tiny_model, kind, condition.name.lower())
    shot = first_raised(health, condition)
    print(kind, "HR 114 after each shot:", health)
    assert shot is not None and FAULT_FIRST <= shot <= FAULT_FIRST + 5, health
    assert health[-1] == 0, health
    assert station.snapshot()["errors"]["HEALTH_FAULT"] >= 1  # its fail_safe entry was honoured


def test_doctor_compares_the_camera_with_the_reference(tmp_path: Path) -> None:
    # The shipped model's own cell size, so that it finds good parts to take the scores of.
    settings = {"shots": 12, "seed": 5, "cavities": 4, "fps": 2.0, "cycle_s": 2.0}
    clean, knocked = tmp_path / "clean.avi", tmp_path / "knocked.avi"
    write_footage(clean, FootageSettings(**settings))  # type: ignore[arg-type]
    write_footage(knocked, FootageSettings(**settings, faults=(parse_fault("camera-shift@1"),)))  # type: ignore[arg-type]
    config = tmp_path / "station.yaml"
    config.write_text(
        "station: {site: s, line: l, name: p}\n"
        f"source: {{kind: file, uri: {clean}, mode: triggered}}\n"
        f"model: {{path: {default_model()}}}\nhealth: {{reference: health}}\n",  # the shipped model
        encoding="utf-8",
    )
    assert main(["health", "reference", "-c", str(config)]) == 0
    assert Reference.load(tmp_path / "health").good_scores.size > 0  # the model's OK parts: score drift on
    section = HealthSection(reference=str(tmp_path / "health"))
    ok = check_health(section, SourceSection(kind="file", uri=str(clean)))
    moved = check_health(section, SourceSection(kind="file", uri=str(knocked)))
    assert ok.status is Status.PASS, ok.detail
    assert moved.status is Status.FAIL and "CAMERA_MOVED" in moved.detail, moved.detail
    missing = check_health(
        HealthSection(reference=str(tmp_path / "none")), SourceSection(kind="file", uri=str(clean))
    )
    assert missing.status is Status.FAIL and "moldpilot health reference" in missing.fix
