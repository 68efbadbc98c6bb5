"""One demo run: local broker + pty cable + `moldpilot run` (a child process, exactly as deployed) + a
supervisor subscribed over MQTT + the virtual PLC triggering every shot over Modbus RTU.

The runtime is started as `python -m edge.cli run -c station.yaml`, not called in-process, so the demo
exercises the production entry point (its signal handling, drain on SIGTERM and final JSON) and its
log goes to runtime.log instead of interleaving with the status line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edge.demo.line import write_station_yaml
from edge.demo.status import StatusLine
from edge.demo.subscriber import ResultSubscriber
from edge.errors import DataError, MoldPilotError
from sim.broker import BrokerUnavailable, free_port, local_broker
from sim.pty_pair import PtyCable
from sim.timeline import Timeline
from sim.virtual_plc.modbus_master import ModbusMasterError, VirtualModbusPlc
from sim.virtual_plc.record import ShotPlan, ShotRecord

READY_TIMEOUT_S = 60.0  # model load + Modbus slave up, on a busy 2-core machine
STOP_TIMEOUT_S = 60.0  # SIGTERM -> drained and exited
MQTT_TIMEOUT_S = 20.0  # runtime exited -> last result seen by the subscriber
PLC_RESULT_TIMEOUT_S = 10.0
TOPIC_ROOT = "demo/line1/press1"  # site/line/station of write_station_yaml


@dataclass
class DemoRun:
    records: list[ShotRecord]  # what the virtual PLC received, one per shot
    mqtt: dict[str, Any]  # what the supervisor's subscriber received
    runtime: dict[str, Any]  # the runtime's final JSON (pipeline counters + PLC link status)
    runtime_exit_code: int
    verdict_rows: list[dict[str, Any]]  # the runtime's JSONL, one row per part
    broker: str
    mqtt_complete: bool  # every judged part reached the subscriber before the timeout


def run_line(out_dir: Path, camera_dir: Path, model: Path, timeline: Timeline, deadline_ms: float,
             cycle_s: float, status: StatusLine, console_port: int | None = None) -> DemoRun:
    """Run the line; the virtual PLC triggers one shot every `cycle_s` (0: back to back). With
    `console_port` the runtime serves the console there, and after the last shot the runtime keeps
    running (the console showing the last state) until Ctrl-C."""
    verdicts_path, log_path = out_dir / "verdicts.jsonl", out_dir / "runtime.log"
    outbox = out_dir / "outbox.sqlite"
    for stale in (verdicts_path, outbox):  # one run per report; an old outbox would replay old results
        stale.unlink(missing_ok=True)
    with ExitStack() as stack:
        try:
            broker = stack.enter_context(local_broker(free_port()))
        except BrokerUnavailable as exc:
            raise MoldPilotError(f"{exc} ('make demo' installs Mosquitto on Debian/Ubuntu)") from None
        cable = stack.enter_context(PtyCable(out_dir / "tty"))
        sub = stack.enter_context(ResultSubscriber("127.0.0.1", broker.port, TOPIC_ROOT))
        config = out_dir / "station.yaml"
        write_station_yaml(config, camera_dir=camera_dir, model=model, timeline=timeline,
                           plc_port=cable.runtime_path, broker_port=broker.port, outbox=outbox,
                           deadline_ms=deadline_ms, console_port=console_port)
        with _runtime(config, verdicts_path, log_path) as runtime:
            if console_port is not None:
                print(f"console: http://127.0.0.1:{console_port}/", file=sys.stderr, flush=True)
            records = _drive_plc(cable.plc_path, timeline, cycle_s, sub, status)
            if console_port is not None:
                _hold(console_port)
            exit_code, final = _stop(runtime, log_path)
        rows = [json.loads(line) for line in verdicts_path.read_text(encoding="utf-8").splitlines()]
        complete = sub.wait_for(len(rows), MQTT_TIMEOUT_S)
        return DemoRun(records, sub.counts(), final, exit_code, rows, broker.kind, complete)


def _drive_plc(port: Path, timeline: Timeline, cycle_s: float, sub: ResultSubscriber,
               status: StatusLine) -> list[ShotRecord]:
    """The press controller: one trigger per shot, in shot order, with the shot's first part id, at
    the press's cycle time (the mold opens every `cycle_s`), measured from the first trigger."""
    records: list[ShotRecord] = []
    try:
        with VirtualModbusPlc(str(port), result_timeout_s=PLC_RESULT_TIMEOUT_S) as plc:
            t0_s = time.monotonic()
            for index, shot in enumerate(timeline.shots):
                time.sleep(max(0.0, t0_s + index * cycle_s - time.monotonic()))  # the press's rhythm
                records.append(plc.shot(ShotPlan(shot.shot, shot.part_ids[0])))
                _show(status, records, len(timeline.shots), sub)
    except ModbusMasterError as exc:
        raise DataError(f"the virtual PLC lost the runtime after {len(records)} shots: {exc}; "
                        "see runtime.log") from None
    _show(status, records, len(timeline.shots), sub, final=True)
    return records


def _show(status: StatusLine, records: list[ShotRecord], total: int, sub: ResultSubscriber,
          final: bool = False) -> None:
    counts = sub.counts()
    status.show(len(records), total, counts["decisions"], counts["ng_by_cavity"],
                [r.latency_ms for r in records if r.arrived], final)


@contextmanager
def _runtime(config: Path, verdicts: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`moldpilot run` on `config`, ready (its Modbus slave serving) when the with-block starts."""
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "-c", str(config), "--jsonl", str(verdicts)],
            stdout=subprocess.PIPE, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            _wait_ready(proc, log_path)
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            _close(proc.stdout)


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline_s = time.monotonic() + READY_TIMEOUT_S
    while "serving on" not in log_path.read_text(encoding="utf-8"):
        if proc.poll() is not None:
            raise DataError(f"the runtime exited at start (code {proc.returncode}):\n{_tail(log_path)}")
        if time.monotonic() > deadline_s:
            raise DataError(f"the runtime was not serving Modbus within {READY_TIMEOUT_S:.0f} s; "
                            f"see {log_path}")
        time.sleep(0.05)  # polling the log file for a condition, bounded by the deadline above


def _hold(console_port: int) -> None:
    """The last shot is judged: keep the runtime (and its console) up until Ctrl-C or SIGTERM."""
    print(f"line finished; the console at http://127.0.0.1:{console_port}/ keeps the last state. "
          "Ctrl-C to stop.", file=sys.stderr, flush=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):  # Ctrl-C raises KeyboardInterrupt here
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(proc: subprocess.Popen[bytes], log_path: Path) -> tuple[int, dict[str, Any]]:
    """SIGTERM (as systemd stops it): the runtime drains, prints its final JSON and exits."""
    proc.send_signal(signal.SIGTERM)
    try:
        stdout, _ = proc.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise DataError(f"the runtime did not stop within {STOP_TIMEOUT_S:.0f} s; see {log_path}") from None
    lines = stdout.decode().strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else {}


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(encoding="utf-8").splitlines()[-lines:])


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        stream.close()
