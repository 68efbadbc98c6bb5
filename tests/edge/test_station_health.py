"""The health watch in a running station: a knocked camera in real footage raises HR 114 CAMERA_MOVED
and STATUS ERROR over a real pty Modbus link, turns verdicts into NO_DECISION (HEALTH_FAULT) where
station.yaml makes it fail safe, and clears when the camera is back."""

from __future__ import annotations

import time
from pathlib import Path

from edge.cli import main
from edge.commands.replay_cmd import default_model
from edge.config import HealthSection, SourceSection, load_config
from edge.doctor.health import check_health
from edge.doctor.result import Status
from edge.health.reference import Reference
from edge.station import Station
from plc_bridge.modbus import register_map as m
from sim.faults import parse_fault
from sim.footage import FootageSettings, write_footage
from sim.pty_pair import PtyCable
from sim.virtual_plc.modbus_master import VirtualModbusPlc
from sim.virtual_plc.record import plan_from_timeline
from tests.health_runs import SMALL_FOOTAGE
from tests.waiting import wait_until

FAULT_FIRST, FAULT_LAST, SHOTS = 14, 19, 26
CYCLE_S = 0.7  # the PLC's rhythm: longer than the feed's sampling interval, so every shot is checked


def test_a_knocked_camera_is_reported_to_the_plc_and_fails_safe(tiny_model: Path, tmp_path: Path) -> None:
    footage = tmp_path / "line.avi"
    write_footage(
        footage,
        FootageSettings(
            shots=SHOTS,
            seed=21,
            **SMALL_FOOTAGE,  # type: ignore[arg-type]
            faults=(parse_fault(f"camera-shift@{FAULT_FIRST}:{FAULT_LAST}"),),
        ),
    )
    with PtyCable(tmp_path / "tty") as cable:
        config_path = tmp_path / "station.yaml"
        config_path.write_text(
            "station: {site: s, line: l, name: press1}\n"
            f"source: {{kind: file, uri: {footage}, mode: triggered}}\n"
            f"model: {{path: {tiny_model}}}\ndeadline_ms: 5000\n"
            f"plc: {{protocol: modbus-rtu, port: {cable.runtime_path}}}\n"
            "health: {reference: health, fail_safe: [camera_moved], sample_s: 0.3}\n",
            encoding="utf-8",
        )
        assert main(["health", "reference", "-c", str(config_path), "--shots", "10"]) == 0
        station = Station(load_config(config_path))
        station.start()
        health_after: list[int] = []  # HR 114 as the PLC reads it after each shot
        try:
            with VirtualModbusPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                for plan in plan_from_timeline(footage):
                    t0_s = time.monotonic()
                    record = plc.shot(plan)
                    assert record.arrived
                    wait_until(
                        lambda n=plan.shot: station.pipeline.stats.snapshot()["triggers"] >= n,
                        "the shot's verdicts",
                    )
                    time.sleep(max(0.0, t0_s + CYCLE_S - time.monotonic()))  # the press's rhythm
                    health_after.append(plc.read(m.HR_HEALTH, 1)[0])
                    if plan.shot == FAULT_FIRST + 4:
                        assert plc.read(m.HR_STATUS, 1)[0] & m.ST_ERROR
        finally:
            assert station.close()
    moved = [shot for shot, bits in enumerate(health_after, start=1) if bits & (1 << 1)]
    assert moved, f"CAMERA_MOVED never raised: {health_after}"
    assert FAULT_FIRST <= moved[0] <= FAULT_FIRST + 5, health_after  # detected within 5 shots
    assert health_after[-1] == 0, health_after  # cleared once the camera is back
    print("HR 114 after each shot:", health_after, "CAMERA_MOVED first at shot", moved[0])
    assert station.snapshot()["errors"]["HEALTH_FAULT"] >= 1  # parts not judged on the wrong pixels
    assert station.view().latest_verdicts[1].error_code == 0  # judged again at the end


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
