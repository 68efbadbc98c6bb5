"""`moldpilot doctor` against real things: a Mosquitto with a password file, a pty serial cable with the
virtual PLC's Modbus master beating, the tiny ONNX model (and a tampered copy of it)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from edge.commands.doctor_cmd import NAME_WIDTH
from edge.doctor import Status, run_checks
from plc_bridge.modbus import register_map as m
from sim.pty_pair import PtyCable
from sim.virtual_plc.modbus_master import ModbusMasterError, VirtualModbusPlc
from tests.mosquitto import MosquittoBroker
from tests.tiny_model import tamper

USER, PASSWORD = "station", "s3cret"
BEAT_PERIOD_S = 0.1  # the test PLC beats faster than a real one, so the doctor's wait is short


def run_doctor(config: Path, password: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MP_USER": USER, "MP_PASSWORD": password}
    return subprocess.run([sys.executable, "-m", "edge.cli", "doctor", "-c", str(config), *extra],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def write_config(folder: Path, model: Path, port: str, broker_port: int) -> Path:
    config = {
        "station": {"site": "plant", "line": "l1", "name": "press3"},
        "source": {"kind": "sim", "uri": "seed=3,shots=2,cavities=4"},
        "model": {"path": str(model)},
        "plc": {"protocol": "modbus-rtu", "port": port, "heartbeat_s": 0.3},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "username_env": "MP_USER",
                 "password_env": "MP_PASSWORD", "outbox": str(folder / "outbox.sqlite")},
        "storage": {"ng_dir": str(folder / "ng"), "quota_mb": 1},
    }
    path = folder / "station.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def table_rows(out: str) -> dict[str, str]:
    """{check name: its row with the wrapped continuation lines (detail, fix) joined by spaces}."""
    rows: dict[str, str] = {}
    name = ""
    for line in out.splitlines():
        if line and not line[0].isspace():
            name = line[:NAME_WIDTH].strip()
            rows[name] = line
        elif line.strip() and name:
            rows[name] += " " + line.strip()
    return rows


@pytest.fixture
def broker(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    return mosquitto_factory(users={USER: PASSWORD})


@pytest.fixture
def beating_plc(tmp_path: Path) -> Iterator[PtyCable]:
    """A pty cable whose PLC end is the virtual PLC's Modbus master writing PLC_HEARTBEAT (HR5) every
    BEAT_PERIOD_S; writes fail (and are retried) until the doctor serves the other end."""
    stop = threading.Event()
    with PtyCable(tmp_path / "tty", baudrate=115200) as cable:
        plc = VirtualModbusPlc(str(cable.plc_path), response_timeout_s=0.1)

        def beat() -> None:
            counter = 0
            while not stop.wait(BEAT_PERIOD_S):
                counter += 1
                # Nobody serves the slave end yet (or any more): a PLC retries too.
                with contextlib.suppress(ModbusMasterError):
                    plc.write(m.HR_PLC_HEARTBEAT, [counter])

        thread = threading.Thread(target=beat, name="test-plc-heartbeat", daemon=True)
        thread.start()
        try:
            yield cable
        finally:
            stop.set()
            thread.join(5.0)
            plc.__exit__()


def test_broken_setup_names_each_problem_and_its_fix(tmp_path: Path, tiny_model: Path,
                                                      broker: MosquittoBroker) -> None:
    tamper(tiny_model)
    config = write_config(tmp_path, tiny_model, str(tmp_path / "ttyUSB-missing"), broker.port)
    result = run_doctor(config, "wrong-password")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    rows = table_rows(out)
    assert "does not exist" in rows["serial port"] and "FAIL" in rows["serial port"]
    assert "/dev/serial/by-id" in rows["serial port"]  # the port's fix
    assert "SKIP" in rows["PLC heartbeat"]  # needs the port: skipped, not a second confusing failure
    broker_row, model_row = rows["MQTT broker"], rows["model"]
    assert "FAIL" in broker_row and "refused the credentials" in broker_row
    assert "MP_USER / MP_PASSWORD" in broker_row and "mosquitto_passwd" in broker_row  # the broker's fix
    assert "FAIL" in model_row and "was modified after its card was written" in model_row
    assert "copy the model and its .card.json again" in model_row  # the model's fix
    # What works is still checked and reported: one problem never hides the others.
    assert "PASS" in rows["config"] and "PASS" in rows["camera"] and "PASS" in rows["disk (NG store)"]


def test_good_setup_passes_with_exit_0(tmp_path: Path, tiny_model: Path, broker: MosquittoBroker,
                                       beating_plc: PtyCable) -> None:
    config = write_config(tmp_path, tiny_model, str(beating_plc.runtime_path), broker.port)
    result = run_doctor(config, PASSWORD, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    by_name = {r["name"]: r for r in json.loads(result.stdout)}
    # Everything configured passes; the health watch is not configured here (it needs a reference taken
    # on the line: tests/edge/test_station_health.py checks it), so it alone is skipped.
    assert {n: r["status"] for n, r in by_name.items() if r["status"] not in ("PASS", "WARN")} == {
        "health watch": "SKIP"}
    assert by_name["clock"]["status"] in ("PASS", "WARN")  # NTP state may be unknown in a container
    assert "PLC_HEARTBEAT moving" in by_name["PLC heartbeat"]["detail"]
    model = by_name["model"]["detail"]
    assert "CPUExecutionProvider" in model and "warm latency" in model
    assert "accepted the connection as station" in by_name["MQTT broker"]["detail"]
    assert "10 frames of 400x400" in by_name["camera"]["detail"]


def test_silent_plc_fails_with_the_wiring_fix(tmp_path: Path, tiny_model: Path) -> None:
    """A port that exists but no PLC behind it: the heartbeat check times out and says what to check."""
    with PtyCable(tmp_path / "tty", baudrate=115200) as cable:
        config = write_config(tmp_path, tiny_model, str(cable.runtime_path), 1883)
        results = {r.name: r for r in run_checks(config)}
    plc = results["PLC heartbeat"]
    assert plc.status is Status.FAIL and "no PLC_HEARTBEAT write" in plc.detail
    assert "that the PLC program writes HR5" in plc.fix and "unit id" in plc.fix


def test_broken_config_stops_only_the_checks_that_need_it(tmp_path: Path, tiny_model: Path) -> None:
    config = write_config(tmp_path, tiny_model, "/dev/null", 1883)
    data = yaml.safe_load(config.read_text())
    data["mqtt"]["prot"] = 1883  # a typo in one section
    config.write_text(yaml.safe_dump(data))
    results = {r.name: r for r in run_checks(config)}
    assert results["config"].status is Status.FAIL and "did you mean 'port'" in results["config"].detail
    assert results["MQTT broker"].status is Status.SKIP and "invalid" in results["MQTT broker"].detail
    assert results["model"].status is Status.PASS and results["camera"].status is Status.PASS


def test_recipe_models_are_checked_and_a_bad_one_is_named(tmp_path: Path,
                                                           tiny_model_factory: Callable[..., Path]) -> None:
    station_model, good, bad = (tiny_model_factory(name) for name in ("station", "cover", "lid"))
    tamper(bad)
    config = write_config(tmp_path, station_model, "/dev/null", 1883)
    data = yaml.safe_load(config.read_text())
    data["recipes"] = {1: {"model": str(good)}, 2: {"threshold": 0.3}, 3: {"model": str(bad)},
                       4: {"model": str(bad)}}
    config.write_text(yaml.safe_dump(data))
    results = {r.name: r for r in run_checks(config)}
    assert results["model"].status is Status.PASS
    recipes = results["recipe models"]
    assert recipes.status is Status.FAIL, recipes
    assert f"recipe 3, 4 ({bad})" in recipes.detail
    assert "was modified after its card was written" in recipes.detail
    assert "copy the model and its .card.json again" in recipes.fix

    data["recipes"] = {1: {"model": str(good)}}
    config.write_text(yaml.safe_dump(data))
    recipes = {r.name: r for r in run_checks(config)}["recipe models"]
    assert recipes.status is Status.PASS and "recipe 1: tiny_defect sha256" in recipes.detail, recipes


def test_no_recipe_models_no_recipe_row(tmp_path: Path, tiny_model: Path) -> None:
    config = write_config(tmp_path, tiny_model, "/dev/null", 1883)
    assert "recipe models" not in {r.name for r in run_checks(config)}
