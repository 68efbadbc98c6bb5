"""`moldpilot sim plc` drives a runtime from a footage timeline over both protocols."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.cli import main
from plc_bridge.ascii.link import AsciiLink, AsciiSettings
from plc_bridge.modbus.register_bank import RegisterBank
from plc_bridge.modbus.server import ModbusServer, ModbusSettings
from sim.pty_pair import PtyCable
from sim.timeline import read_timeline
from tests.plc_bridge.plc_helpers import StandInProducer


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video = tmp_path_factory.mktemp("footage") / "line.avi"
    assert main(["sim", "footage", "--out", str(video), "--shots", "5", "--seed", "3", "--cavities", "2",
                 "--fps", "4", "--cycle-s", "1"]) == 0
    return video


@pytest.fixture(params=["modbus-rtu", "ascii"])
def runtime(request: pytest.FixtureRequest, cable: PtyCable,
            producer: StandInProducer) -> Iterator[str]:
    link: ModbusServer | AsciiLink
    if request.param == "ascii":
        link = AsciiLink(AsciiSettings(str(cable.runtime_path)), producer.on_trigger)
    else:
        link = ModbusServer(ModbusSettings(port=str(cable.runtime_path)), RegisterBank(producer.on_trigger))
    producer.post = link.post_result
    link.start()
    yield request.param
    link.close()


def test_sim_plc_runs_the_timeline(runtime: str, cable: PtyCable, footage: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plc.jsonl"
    argv = ["sim", "plc", "--protocol", runtime, "--port", str(cable.plc_path), "--timeline", str(footage),
            "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["shots"] == summary["arrived"] == 5 and summary["echo_mismatches"] == 0
    expected = [s.part_ids[0] for s in read_timeline(footage).shots]
    assert [json.loads(line)["echo_part_id"] for line in out.read_text().splitlines()] == expected
