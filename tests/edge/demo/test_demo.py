"""`moldpilot demo --json` end to end: footage, Mosquitto, pty cable, `moldpilot run` over Modbus RTU,
the virtual PLC and an MQTT subscriber. Every count must agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from edge.demo.status import StatusLine
from sim.broker import find_mosquitto


@pytest.mark.skipif(find_mosquitto() is None, reason="Mosquitto is not installed (make system-packages)")
def test_demo_json_counts_agree(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--parts", "30", "--json", "--cycle-s", "0", "--model", str(tiny_model),
                 "--out", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    summary = json.loads(out)  # nothing but the JSON on stdout
    assert code == 0, summary
    assert summary["parts_triggered"] == 32  # 30 parts round up to 8 shots of 4 cavities
    assert summary["parts_judged"] == summary["parts_triggered"] == summary["plc_results"] \
        == summary["mqtt_results"]
    assert summary["plc"]["echo_mismatches"] == 0 and summary["plc"]["disagreements"] == 0
    assert summary["accuracy"] is not None and 0.0 <= summary["accuracy"] <= 1.0
    assert sum(c["parts"] for c in summary["per_cavity"].values()) == 32
    assert Path(summary["report"]).is_file()
    assert len(list((tmp_path / "demo" / "camera").glob("*.png"))) == 8


def test_status_line_names_the_figures() -> None:
    text = StatusLine.format(3, 10, {"OK": 9, "NG": 2, "NO_DECISION": 1}, {2: 2}, [12.0, 30.0, 18.0])
    assert text == ("shot 3/10  parts 12  NG 2  NO_DECISION 1  NG by cavity c2:2  "
                    "PLC latency p50 18 ms, max 30 ms")
