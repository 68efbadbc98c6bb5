"""`moldpilot run` as a process: how it starts and ends when its inputs come and go."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sim.pty_pair import PtyCable
from sim.virtual_plc.ascii_master import VirtualAsciiPlc
from sim.virtual_plc.modbus_master import VirtualModbusPlc
from sim.virtual_plc.record import synthetic_plan
from tests.station_run import start_run, two_cavity_station, wait_for_text
from tests.tiny_model import write_noise_images

PARTS = 6


def test_stdin_triggers_end_the_run_when_stdin_closes(tiny_model: Path, tmp_path: Path) -> None:
    """Issue 17 item 9: the trigger producer is gone, so the station drains and exits 0 on its own, with
    one verdict per trigger sent."""
    images = write_noise_images(tmp_path / "images", PARTS, seed=3)
    config = tmp_path / "station.yaml"
    config.write_text(
        "station: {site: s, line: l, name: p}\n"
        f"source: {{kind: folder, uri: {images}, mode: triggered}}\n"
        f"model: {{path: {tiny_model}}}\ndeadline_ms: 5000\n",
        encoding="utf-8",
    )
    out = tmp_path / "verdicts.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "run", "-c", str(config), "--jsonl", str(out), "--stdin-triggers"],
        input="".join(f"{100 + i}\n" for i in range(PARTS)).encode(),
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"stdin closed" in proc.stderr
    final = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert final["triggers"] == PARTS
    assert sorted(json.loads(line)["part_id"] for line in out.read_text().splitlines()) == list(
        range(100, 100 + PARTS)
    )


@pytest.mark.parametrize("protocol", ["modbus-rtu", "ascii"])
def test_a_missing_serial_port_is_a_link_fault_not_a_crash(
    protocol: str, tiny_model: Path, tmp_path: Path
) -> None:
    """Issue 17 item 2, as decided in the README: the station starts with its PLC link down (logged
    once, no traceback) and serves the port once it appears, as when a USB adapter is plugged in late."""
    link_dir = tmp_path / "tty"  # nothing there yet: the cable is plugged in below
    config = two_cavity_station(
        tmp_path, tiny_model, f"{{protocol: {protocol}, port: {link_dir}/runtime}}", shots=2, seed=3
    )
    out, log = tmp_path / "verdicts.jsonl", tmp_path / "run.log"
    proc = start_run(config, out, log)
    try:
        wait_for_text(log, "cannot be")
        assert proc.poll() is None, log.read_text()  # still running, the link reported down
        with PtyCable(link_dir) as cable:
            plan = synthetic_plan(1, first_part_id=77)
            if protocol == "ascii":
                with VirtualAsciiPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                    records = plc.run(plan)
            else:
                with VirtualModbusPlc(str(cable.plc_path), result_timeout_s=20) as plc:
                    records = plc.run(plan)
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, log.read_text()
    assert [r.echo_part_id for r in records] == [77]
    assert "Traceback" not in log.read_text()


def test_a_modbus_tcp_port_in_use_is_one_line_and_exit_2(tiny_model: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = two_cavity_station(
            tmp_path,
            tiny_model,
            f"{{protocol: modbus-tcp, host: 127.0.0.1, tcp_port: {port}}}",
            shots=1,
            seed=3,
        )
        proc = subprocess.run(
            [sys.executable, "-m", "edge.cli", "run", "-c", str(config)],
            capture_output=True,
            timeout=120,
            text=True,
        )
    assert proc.returncode == 2
    assert (
        f"Modbus TCP cannot listen on 127.0.0.1:{port}" in proc.stderr
        and "pick a free plc.tcp_port" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
