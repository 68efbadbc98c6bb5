"""edge/station.py: one station built from a StationConfig, over real footage and a real ONNX model."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import StationConfig
from edge.station import Station
from edge.triggers import SoftwareTrigger
from edge.verdict import Decision, ErrorCode
from sim.broker import free_port
from sim.footage import FootageSettings, write_footage
from tests.waiting import wait_until

CAVITIES = 2


@pytest.fixture
def footage(tmp_path: Path) -> Path:
    video = tmp_path / "line.avi"
    write_footage(video, FootageSettings(shots=3, seed=11, cavities=CAVITIES, fps=10, cycle_s=1.0,
                                         cell_px=64))
    return video


def config_for(footage: Path, model: Path, mode: str) -> StationConfig:
    return StationConfig.model_validate({
        "station": {"site": "s", "line": "l", "name": "p"},
        "source": {"kind": "file", "uri": str(footage), "mode": mode},
        "model": {"path": str(model)},
    })


def test_free_run_station_judges_every_frame_and_shows_the_newest(footage: Path, tiny_model: Path) -> None:
    station = Station(config_for(footage, tiny_model, "free-run"))
    assert station.triggers is None and station.link is None  # free-run: no trigger comes in
    station.start()
    try:
        wait_until(station.pipeline.done.is_set, "the end of the file")
    finally:
        assert station.close()
    view = station.view()
    counters = view.counters
    assert counters["frames_judged"] == counters["frames_in"] == 30  # 3 shots x 10 frames, none dropped
    assert view.latest_frame is not None and view.latest_frame.frame_id == 29
    assert sorted(view.latest_verdicts) == [1, 2] == sorted(view.cavities)
    assert all(v.frame_id == 29 for v in view.latest_verdicts.values())
    assert len(view.model["sha256"]) == 12 and view.model["provider"] == "CPUExecutionProvider"
    assert view.plc is None and view.mqtt is None


def test_triggered_station_answers_each_trigger_and_refuses_after_stop(footage: Path,
                                                                         tiny_model: Path) -> None:
    station = Station(config_for(footage, tiny_model, "triggered"))
    assert station.triggers is not None
    software = SoftwareTrigger(station.triggers)
    station.start()
    try:
        for part_id in (1, 2, 3):
            software.fire(part_id=part_id)
        wait_until(lambda: station.pipeline.stats.snapshot()["triggers"] == 3, "three triggers judged")
        station.stop()
        late = software.fire(part_id=99)  # the queue is closed: answered at once, never lost
        wait_until(lambda: station.view().latest_verdicts[1].part_id == 99, "the late trigger's answer")
    finally:
        assert station.close()
    late_verdicts = [station.view().latest_verdicts[c] for c in (1, 2)]
    assert all(v.seq == late.seq and v.decision is Decision.NO_DECISION for v in late_verdicts)
    assert all(v.error_code is ErrorCode.TRIGGER_OVERRUN for v in late_verdicts)
    assert station.snapshot()["triggers_rejected"] == 1


def test_a_camera_that_is_not_up_gets_no_decision_not_an_exit(tiny_model: Path) -> None:
    """Issue 17 item 14: the station starts without its camera and answers every trigger NO_DECISION
    (NO_FRAME), so the PLC rejects the parts, instead of exiting and leaving the line blind."""
    config = StationConfig.model_validate({
        "station": {"site": "s", "line": "l", "name": "p"},
        "source": {"kind": "rtsp", "uri": f"http://127.0.0.1:{free_port()}/stream", "mode": "triggered",
                   "reconnect_max_s": 0.5},
        "model": {"path": str(tiny_model)},
        "deadline_ms": 300,
    })
    station = Station(config)
    assert station.view().camera["state"] == "lost"  # type: ignore[index]
    assert station.triggers is not None
    station.start()
    try:
        trigger = SoftwareTrigger(station.triggers).fire(part_id=5)
        wait_until(lambda: 1 in station.view().latest_verdicts, "the trigger's answer")
    finally:
        assert station.close()
    verdict = station.view().latest_verdicts[1]
    assert (verdict.seq, verdict.decision, verdict.error_code) == (trigger.seq, Decision.NO_DECISION,
                                                                  ErrorCode.NO_FRAME)
