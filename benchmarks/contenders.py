"""One contender run as a child process, measured from outside: CPU-seconds, peak RSS, start-up, frames/s.

Shared by benchmarks/bench_peers.py and benchmarks/bench_default.py. `os.wait4` gives the child's own
rusage (user + system CPU of all its threads, its peak RSS), so one run's figures are not mixed with
another's. Start-up is the spawn (before the interpreter starts) to the first verdict's wall time, which
each contender reports: replay in its verdicts.jsonl (`t_wall_s`), a peer in its JSON. Frames/s is the
steady state between the first and the last verdict. `other_cores` is the machine's busy CPU-seconds
per second of wall time during the run minus the child's own: above ~0.3 the run shared the cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _machine_busy_s() -> float:
    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def run_child(cmd: list[str]) -> dict[str, Any]:
    """Run `cmd`; its stdout, rc, wall_s, cpu_s, peak_rss_mb, spawn_wall, other_cores and load_1min."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        busy0, spawn_wall, start = _machine_busy_s(), time.time(), time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # reaps it: Popen.wait would lose the rusage
        child.returncode = os.waitstatus_to_exitcode(status)
        wall_s = time.perf_counter() - start
        cpu_s = usage.ru_utime + usage.ru_stime
        other = (_machine_busy_s() - busy0 - cpu_s) / wall_s
        out.seek(0)
        err.seek(0)
        return {"rc": child.returncode, "stdout": out.read(), "stderr": err.read()[-2000:],
                "wall_s": round(wall_s, 3), "cpu_s": round(cpu_s, 3),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "spawn_wall": spawn_wall, "other_cores": round(max(other, 0.0), 2),
                "load_1min": os.getloadavg()[0]}


def _steady(frames: int, parts: int, first_wall: float, last_wall: float, run: dict[str, Any]) -> dict:
    return {"frames": frames, "parts": parts,
            "fps": round((frames - 1) / (last_wall - first_wall), 2) if last_wall > first_wall else None,
            "startup_s": round(first_wall - run["spawn_wall"], 3),
            "cpu_s_per_1000_parts": round(run["cpu_s"] / parts * 1000, 3),
            "parts_per_cpu_s": round(parts / run["cpu_s"], 1),
            **{k: run[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "other_cores", "load_1min")}}


def replay_run(model: Path, footage: Path, report_dir: Path) -> dict[str, Any]:
    """`moldpilot replay FOOTAGE --every-frame --speed max --report DIR` with `model`; its figures and
    `ng` (the NG flag of every part, in frame and cavity order, as a '0'/'1' string)."""
    run = run_child([sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "replay", str(footage),
                     "--every-frame", "--speed", "max", "--json", "--model", str(model),
                     "--report", str(report_dir)])
    if run["rc"] != 0:
        raise RuntimeError(f"replay failed ({run['rc']}): {run['stderr']}")
    summary = json.loads(run["stdout"].strip().splitlines()[-1])
    with (report_dir / "verdicts.jsonl").open(encoding="utf-8") as lines:
        verdicts = sorted((json.loads(line) for line in lines), key=lambda v: (v["frame_id"], v["cavity"]))
    flags = "".join("1" if v["decision"] == "NG" else "0" for v in verdicts)
    walls = [v["t_wall_s"] for v in verdicts]
    figures = _steady(summary["frames_judged"], len(verdicts), min(walls), max(walls), run)
    return {**figures, "ng": flags.count("1"), "flags": flags, "drops": summary["drops"],
            "accuracy": summary.get("accuracy"), "escape_rate": summary.get("escape_rate")}


def peer_run(python: Path, which: str, model: Path, footage: Path) -> dict[str, Any]:
    """benchmarks/peers/peer_loop.py --which WHICH in the peer's venv (`python`); its figures."""
    script = Path(__file__).resolve().parent / "peers" / "peer_loop.py"
    run = run_child([str(python), str(script), "--which", which, str(footage), str(model)])
    if run["rc"] != 0:
        raise RuntimeError(f"peer {which} failed ({run['rc']}): {run['stderr']}")
    result = json.loads(run["stdout"].strip().splitlines()[-1])
    figures = _steady(result["frames"], result["parts"], result["first_verdict_wall"],
                      result["last_verdict_wall"], run)
    return {**figures, "ng": result["ng"], "flags": result["flags"]}
