"""Shadow mode on a whole station: `moldpilot run` (triggered, on simulator footage with its timeline)
answering the virtual PLC over a real pty Modbus RTU link, with the shipped model as the active model
and as the shadow candidate. Every trigger still gets exactly one verdict per cavity, and the final
counters show what the candidate judged."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from edge.commands.replay_cmd import default_model
from sim.footage import FootageSettings, write_footage
from sim.pty_pair import PtyCable
from sim.virtual_plc.modbus_master import VirtualModbusPlc
from sim.virtual_plc.record import plan_from_timeline
from tests.station_run import start_run, triggered_station, wait_for_text

SHIPPED = default_model()
SHOTS = 6


def test_every_trigger_gets_one_verdict_per_cavity_with_the_shadow_on(tmp_path: Path) -> None:
    footage = tmp_path / "line.avi"  # what `moldpilot sim footage` writes
    write_footage(footage, FootageSettings(shots=SHOTS, seed=21, cavities=2, fps=4, cycle_s=1.0, cell_px=64))
    with PtyCable(tmp_path / "tty") as cable:
        config = triggered_station(tmp_path / "station.yaml",
                                   f"kind: file, uri: {footage}, timeline: {footage}.timeline.json",
                                   f"{{path: {SHIPPED}}}", cable.runtime_path,
                                   f"shadow: {{model: {SHIPPED}, window_parts: 50}}")
        out, log = tmp_path / "verdicts.jsonl", tmp_path / "run.log"
        proc = start_run(config, out, log)
        try:
            wait_for_text(log, "serving on", timeout_s=120)
            with VirtualModbusPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                records = plc.run(plan_from_timeline(footage))
            proc.send_signal(signal.SIGTERM)
            stdout, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0, log.read_text()
    assert len(records) == SHOTS and all(r.echo_part_id == r.part_id for r in records)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    judged = sorted((row["part_id"], row["cavity"]) for row in rows)
    assert judged == sorted((r.part_id, cavity) for r in records for cavity in (1, 2))  # once each
    shadow = json.loads(stdout.decode().strip().splitlines()[-1])["shadow"]
    assert shadow["parts_offered"] == 2 * SHOTS
    assert shadow["parts_judged"] + shadow["dropped"] == 2 * SHOTS and shadow["parts_judged"] > 0
    assert shadow["errors"] == 0 and shadow["agreement_active"] == 1.0
    assert "Traceback" not in log.read_text()
