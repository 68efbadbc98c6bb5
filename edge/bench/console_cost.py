"""What the console costs the line (issue 19): `moldpilot replay --every-frame --speed max` with three
headless browsers watching the live view against the same without, and triggered latency p99 with and
without them, each round's triggers pooled. Targets: throughput within 3 %, p99 within 1 ms.

The watched replay is the same command with a station.yaml whose console: section serves the console
on a free loopback port (no NG store added, so both runs have the same sinks but the console's). The
browsers run on this machine, so on a small one they also take cores from the replay: the figure is
an upper bound of what a browser on another PC costs the station. The station process's own CPU per
frame, with and without the browsers, is what the console itself costs, apart from the browsers.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from edge.bench.latency import pooled
from edge.bench.stages import children_cpu_s
from edge.bench.watchers import WATCH_FPS, Watchers

WATCHERS = 3
TARGETS = {"throughput_ratio_min": 0.97, "latency_p99_extra_ms_max": 1.0}
START_WAIT_S = 120.0


def watched_replay_fps(model: Path, footage: Path, watchers: int = WATCHERS,
                       watch_fps: int = WATCH_FPS) -> dict[str, Any]:
    """(d) with `watchers` browsers on the live view at `watch_fps` for the whole judged run."""
    from sim.broker import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="moldpilot-bench-console-") as tmp:
        config = Path(tmp) / "station.yaml"
        config.write_text(yaml.safe_dump({
            "station": {"site": "bench", "line": "bench", "name": "console"},
            "source": {"kind": "file", "uri": str(footage), "mode": "replay"},
            "model": {"path": str(model)}, "console": {"port": port}}))
        browsers = Watchers(watchers)  # booted before the replay starts
        try:
            cmd = [sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "replay", str(footage),
                   "--config", str(config), "--every-frame", "--speed", "max", "--json"]
            cpu_before_s = children_cpu_s()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            _wait_listening(port, proc)
            browsers.watch(f"http://127.0.0.1:{port}", watch_fps)
            before, t0_s, browsers_before_s = browsers.pictures_shown(), time.monotonic(), browsers.cpu_s()
            out, err = proc.communicate()
            cpu_s = children_cpu_s() - cpu_before_s  # the replay only: the browsers are not reaped yet
            watched_s, browsers_cpu_s = time.monotonic() - t0_s, browsers.cpu_s() - browsers_before_s
            shown = browsers.frames_shown()
            pictures = [n - b for n, b in zip(browsers.pictures_shown(), before, strict=True)]
        finally:
            browsers.close()
    if proc.returncode != 0:
        raise RuntimeError(f"watched replay failed ({proc.returncode}): {err.strip()[-2000:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    return {"fps": summary["fps"], "frames_in": summary["frames_in"],
            "frames_judged": summary["frames_judged"],
            "cpu_s": round(cpu_s, 3), "watchers": watchers, "watch_fps": watch_fps,
            "last_frame_shown": shown,
            "pictures_per_s": [round(n / watched_s, 1) for n in pictures],
            "browsers_cpu_s": round(browsers_cpu_s, 3), "pictures": sum(pictures),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


def _wait_listening(port: int, proc: subprocess.Popen[str]) -> None:
    deadline_s = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline_s and proc.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)  # the child is loading its model; bounded by the deadline
    raise RuntimeError(f"the watched replay's console did not answer on port {port}")


Runs = list[dict[str, Any]]


def console_result(plain: Runs, watched: Runs, latency_plain: Runs, latency_watched: Runs) -> dict[str, Any]:
    """Best round of each replay and their ratio; the latency rounds pooled and their p99 difference;
    the targets."""
    best_plain = max(plain, key=lambda r: r["fps"])
    best_watched = max(watched, key=lambda r: r["fps"])
    ratio = best_watched["fps"] / best_plain["fps"]
    lat_plain, lat_watched = pooled(latency_plain, "minus_model"), pooled(latency_watched, "minus_model")
    extra_ms = lat_watched["p99"] - lat_plain["p99"]
    return {
        "watch_fps": best_watched["watch_fps"],
        "replay_fps": {"without_console": best_plain["fps"], f"with_{WATCHERS}_browsers": best_watched["fps"],
                       "rounds_without": [r["fps"] for r in plain],
                       "rounds_with": [r["fps"] for r in watched]},
        "throughput_ratio": round(ratio, 3),
        "latency_minus_model_p99_ms": {"without_console": lat_plain["p99"],
                                       f"with_{WATCHERS}_browsers": lat_watched["p99"],
                                       "extra": round(extra_ms, 3),
                                       "rounds_without": [r["p99_ms"] for r in latency_plain],
                                       "rounds_with": [r["p99_ms"] for r in latency_watched]},
        "latency_minus_model_p50_ms": {"without_console": lat_plain["p50"],
                                       f"with_{WATCHERS}_browsers": lat_watched["p50"]},
        "latency_triggers": {"without_console": lat_plain["n"],
                             f"with_{WATCHERS}_browsers": lat_watched["n"]},
        # what the station process itself spends per frame, over all rounds: the console's own cost,
        # apart from the browsers' CPU, which the throughput ratio includes on this machine
        "station_cpu_ms_per_frame": {"without_console": _cpu_ms_per_frame(plain),
                                     f"with_{WATCHERS}_browsers": _cpu_ms_per_frame(watched)},
        "nothing_dropped": best_watched["frames_judged"] == best_watched["frames_in"],
        "pictures_per_s_each_browser": best_watched["pictures_per_s"],
        # what a browser spends per picture it draws, all its processes, over all rounds: the cost to
        # the PC it runs on (here the station's own)
        "browser_cpu_ms_per_picture": round(1000 * sum(r["browsers_cpu_s"] for r in watched)
                                            / max(1, sum(r["pictures"] for r in watched)), 1),
        "targets": {"throughput_within_3_pct": ratio >= TARGETS["throughput_ratio_min"],
                    "p99_within_1_ms": extra_ms <= TARGETS["latency_p99_extra_ms_max"]},
    }


def _cpu_ms_per_frame(runs: Runs) -> float:
    return round(1000 * sum(r["cpu_s"] for r in runs) / sum(r["frames_judged"] for r in runs), 2)


def format_console(result: dict[str, Any]) -> str:
    fps, lat = result["replay_fps"], result["latency_minus_model_p99_ms"]
    cpu = result["station_cpu_ms_per_frame"]
    ok = {True: "ok", False: "MISSED"}
    t = result["targets"]
    return "\n".join([
        f"console cost ({WATCHERS} headless browsers on the live view at {result['watch_fps']} "
        "pictures/s, on this machine)",
        f"  replay --every-frame --speed max  {fps['without_console']:.1f} -> "
        f"{fps[f'with_{WATCHERS}_browsers']:.1f} frames/s, ratio {result['throughput_ratio']:.3f} "
        f"(>= {TARGETS['throughput_ratio_min']} {ok[t['throughput_within_3_pct']]})",
        f"  station CPU per frame             {cpu['without_console']:.2f} -> "
        f"{cpu[f'with_{WATCHERS}_browsers']:.2f} ms (the replay process alone; browsers drew "
        f"{', '.join(f'{n:g}' for n in result['pictures_per_s_each_browser'])} pictures/s, "
        f"{result['browser_cpu_ms_per_picture']:.1f} ms of CPU each)",
        f"  triggered latency - model, p99    {lat['without_console']:.2f} -> "
        f"{lat[f'with_{WATCHERS}_browsers']:.2f} ms, +{lat['extra']:.2f} ms, "
        f"{result['latency_triggers']['without_console']:.0f} triggers each "
        f"(<= {TARGETS['latency_p99_extra_ms_max']} {ok[t['p99_within_1_ms']]})",
    ])
