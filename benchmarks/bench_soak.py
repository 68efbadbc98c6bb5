"""Soak: `moldpilot run` for a long time at line speed, its memory sampled, the slope reported.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 60] [--cycle-s 0.5] [--out var/soak]

A real station process: the simulator as its camera (4 cavities, a fresh shot per trigger), the shipped
model, a Modbus RTU link over a pty cable driven by the virtual PLC at one trigger every `--cycle-s`
(faster than any press), MQTT results into a local broker. The runtime's RSS (from /proc) is sampled
every `--sample-s`; the report gives RSS at start and end, the least-squares slope over the whole run and
over its last half (kB/min: a station that runs for months must level off), shots, answers and drops.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from edge.commands.replay_cmd import default_model
from sim.broker import free_port, local_broker
from sim.pty_pair import PtyCable
from sim.virtual_plc.modbus_master import ModbusMasterError, VirtualModbusPlc
from sim.virtual_plc.record import ShotPlan


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def slope_kb_per_min(samples: list[tuple[float, int]]) -> float:
    t_min = np.array([t for t, _ in samples]) / 60.0
    kb = np.array([k for _, k in samples], dtype=np.float64)
    return float(np.polyfit(t_min, kb, 1)[0]) if len(samples) >= 2 else 0.0


def write_config(out: Path, cable: PtyCable, broker_port: int) -> Path:
    config = out / "station.yaml"
    config.write_text(
        "station: {site: soak, line: l1, name: press1}\n"
        "source: {kind: sim, uri: 'seed=4242,shots=100000,cavities=4', mode: triggered}\n"
        f"model: {{path: {default_model()}}}\n"
        "deadline_ms: 2000\n"
        f"plc: {{protocol: modbus-rtu, port: {cable.runtime_path}}}\n"
        f"mqtt: {{host: 127.0.0.1, port: {broker_port}, outbox: {out / 'outbox.sqlite'}}}\n",
        encoding="utf-8")
    return config


def drive(plc: VirtualModbusPlc, cycle_s: float, until_s: float) -> tuple[int, int, int]:
    """One trigger per cycle until `until_s` (monotonic); (shots, answered, failed exchanges). A shot
    whose exchange failed (the machine too busy to answer in the PLC's timeout) is counted and the soak
    goes on, as a PLC would."""
    shots = answered = failed = 0
    t0_s = time.monotonic()
    while time.monotonic() < until_s:
        shots += 1
        try:
            answered += plc.shot(ShotPlan(shots, 1000 + shots)).arrived
        except ModbusMasterError:
            failed += 1
        time.sleep(max(0.0, t0_s + shots * cycle_s - time.monotonic()))
    return shots, answered, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--cycle-s", type=float, default=0.5)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("var/soak"))
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "outbox.sqlite").unlink(missing_ok=True)
    samples: list[tuple[float, int]] = []
    with local_broker(free_port()) as broker, PtyCable(out / "tty") as cable:
        config = write_config(out, cable, broker.port)
        with (out / "runtime.log").open("w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "run", "-c",
                                     str(config)], stdout=subprocess.PIPE, stderr=log,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            time.sleep(15.0)  # model load and warm-up; the PLC's first shot retries until served
            stop = threading.Event()
            t0_s = time.monotonic()

            def sample() -> None:
                while not stop.wait(args.sample_s):
                    samples.append((time.monotonic() - t0_s, rss_kb(proc.pid)))

            sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
            sampler.start()
            with VirtualModbusPlc(str(cable.plc_path), result_timeout_s=10.0) as plc:
                shots, answered, failed = drive(plc, args.cycle_s, t0_s + args.minutes * 60.0)
            stop.set()
            sampler.join()
            proc.send_signal(signal.SIGTERM)
            stdout, _ = proc.communicate(timeout=120)
        finally:
            proc.kill()
    final = json.loads(stdout.decode().strip().splitlines()[-1])
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    report = {
        "minutes": args.minutes, "cycle_s": args.cycle_s, "shots": shots, "answered": answered,
        "failed_exchanges": failed,
        "rss_mb_start": round(samples[0][1] / 1024, 1), "rss_mb_end": round(samples[-1][1] / 1024, 1),
        "slope_kb_per_min_all": round(slope_kb_per_min(samples), 1),
        "slope_kb_per_min_last_half": round(slope_kb_per_min(half), 1),
        "verdicts": final["verdicts"], "frames_dropped": final["frames_dropped"],
        "sinks": {name: {"dropped": s["dropped"], "errors": s["errors"]}
                  for name, s in final["sinks"].items()},
    }
    (out / "rss.json").write_text(json.dumps(samples) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
