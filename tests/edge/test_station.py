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
from sim.timeline import read_timeline
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


def test_triggers_on_a_recording_take_their_shots_frame(footage: Path, tiny_model: Path) -> None:
    """A trigger names its shot by first part id (as a PLC does); one without a part id takes the next
    shot; an unknown part id is answered NO_FRAME and counted, never judged on some other frame."""
    timeline = read_timeline(footage)
    station = Station(config_for(footage, tiny_model, "triggered"))
    assert station.triggers is not None
    software = SoftwareTrigger(station.triggers)
    station.start()
    try:
        software.fire(part_id=timeline.shots[1].part_ids[0])  # shot 2
        wait_until(lambda: station.view().latest_verdicts.get(1), "shot 2's verdict")
        assert station.view().latest_verdicts[1].frame_id == timeline.shots[1].trigger_frame
        software.fire()  # no part id: the shot after the last one taken, shot 3
        wait_until(lambda: station.view().latest_verdicts[1].frame_id == timeline.shots[2].trigger_frame,
                   "shot 3's verdict")
        software.fire(part_id=987_654)
        wait_until(lambda: station.snapshot()["triggers"] == 3, "the third trigger's answer")
    finally:
        assert station.close()
    assert station.view().latest_verdicts[1].error_code is ErrorCode.NO_FRAME
    assert station.snapshot()["triggers_unmatched"] == 1
