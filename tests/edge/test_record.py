"""`moldpilot record` with software triggers, then `moldpilot replay` of the recording: one verdict per
recorded trigger and cavity. Also the deploy script's dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from edge.cli import main
from edge.commands.record_cmd import record
from edge.config import StationConfig
from sim.footage import FootageSettings, write_footage
from sim.timeline import read_timeline
from tests.waiting import text_of, wait_until

REPO = Path(__file__).resolve().parents[2]
PART_IDS = (101, 102, 103)


def test_record_then_replay_gives_one_verdict_per_trigger_and_cavity(
        tiny_model: Path, tmp_path: Path, capsys) -> None:
    camera = tmp_path / "camera.avi"
    write_footage(camera, FootageSettings(shots=20, seed=5, cavities=2, cell_px=64))  # 40 s at 10 fps
    config = tmp_path / "station.yaml"
    config.write_text(f"station: {{site: s, line: l, name: p}}\n"
                      f"source: {{kind: file, uri: {camera}, mode: triggered}}\n"
                      f"model: {{path: {tiny_model}}}\n"
                      "cavities: [{id: 1, roi: [0, 0, 32, 32]}, {id: 2, roi: [32, 0, 32, 32]}]\n",
                      encoding="utf-8")
    out, log = tmp_path / "rec.avi", tmp_path / "record.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "record", "-c", str(config), "--out",
                                 str(out), "--stdin-triggers"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: "recording " in text_of(log), f"recording started in {log}", 60)
        assert proc.stdin is not None
        proc.stdin.write("".join(f"{p}\n" for p in PART_IDS).encode())
        proc.stdin.flush()
        wait_until(lambda: text_of(log).count("-> frame") >= len(PART_IDS), f"every trigger in {log}", 60)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, log.read_text()
    assert json.loads(stdout)["triggers"] == len(PART_IDS)
    timeline = json.loads(Path(f"{out}.timeline.json").read_text())
    assert [s["part_ids"] for s in timeline["shots"]] == [[p, p] for p in PART_IDS]
    assert all(c["label"] is None for s in timeline["shots"] for c in s["cavities"])

    assert main(["replay", str(out), "--model", str(tiny_model), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["triggers"] == len(PART_IDS)
    assert summary["parts"] == len(PART_IDS) * 2
    assert summary["scored_parts"] == 0  # a recording has no ground truth


def test_install_script_dry_run_into_a_temp_root(tmp_path: Path) -> None:
    script = REPO / "deploy" / "install.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    done = subprocess.run([str(script), "--dry-run", "--root", str(tmp_path)], capture_output=True,
                          text=True, check=True)
    unit = f"{tmp_path}/etc/systemd/system/moldpilot.service"
    assert f"install -m 0644 {REPO}/deploy/moldpilot.service {unit}" in done.stdout
    assert "+ systemctl" not in done.stdout  # never touches the host's systemd under --root
    assert list(tmp_path.iterdir()) == []  # a dry run changes nothing


def test_unit_restarts_on_failure_and_logs_json() -> None:
    unit = (REPO / "deploy" / "moldpilot.service").read_text()
    for line in ("Restart=on-failure", "User=moldpilot", "KillSignal=SIGTERM", "SupplementaryGroups=dialout"):
        assert line in unit
    assert "--log-format json run -c /etc/moldpilot/station.yaml" in unit


def test_recording_a_file_keeps_its_cavities(tmp_path: Path) -> None:
    """Issue 17 item 10: a station.yaml without `cavities:` recording a footage file keeps the file's
    cavity ROIs (from its timeline), not one full-frame cavity."""
    camera = tmp_path / "camera.avi"
    source_timeline = write_footage(camera, FootageSettings(shots=2, seed=5, cavities=4, cell_px=64))
    config = StationConfig.model_validate({
        "station": {"site": "s", "line": "l", "name": "p"},
        "source": {"kind": "file", "uri": str(camera), "mode": "free-run"},
        "model": {"path": str(camera)},  # not loaded by record
    })
    path = record(config, tmp_path / "rec.avi", threading.Event())
    assert read_timeline(path).rois_xywh == source_timeline.rois_xywh
