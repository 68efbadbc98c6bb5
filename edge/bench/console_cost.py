"""What the console costs the line (issue 19): `moldpilot replay --every-frame --speed max` with three
headless browsers watching the live view against the same without, and triggered latency p99 with and
without them, each round's triggers pooled. Targets: throughput within 3 %, p99 within 1 ms.

Both replays run the same station.yaml (the watched one adds a console: section on a free loopback
port; neither adds an NG store, so both have the same sinks but the console) with a metrics endpoint,
and both are measured over the same kind of window: frames judged and the replay's CPU are read every
SAMPLE_S from the first frame judged (in the watched run, from when every browser shows a frame) to
the last sample before the footage ends. The whole run's frames/s would count the browsers' start: on a
loaded 2-core machine three Chromiums opening the page take seconds of a 10-second replay, which is
not what watching costs. The browsers run on this machine, so on a small one they also take cores from
the replay: the figure is an upper bound of what a browser on another PC costs the station. The
station process's own CPU per frame, with and without the browsers, is what the console itself costs,
apart from the browsers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from edge.bench.latency import pooled
from edge.bench.watchers import WATCH_FPS, Watchers, process_tree_cpu_s

WATCHERS = 3
TARGETS = {"throughput_ratio_min": 0.97, "latency_p99_extra_ms_max": 1.0}
START_WAIT_S = 120.0
SAMPLE_S = 0.25  # how often the window's frames and CPU are read


def windowed_replay(model: Path, footage: Path, watchers: int = WATCHERS,
                    watch_fps: int = WATCH_FPS) -> dict[str, Any]:
    """(d) measured over its steady window, with `watchers` browsers on the live view at `watch_fps`
    (0: no console, no browsers: the run to compare with). The window opens once every browser shows a
    frame and closes at the last sample before the footage ends (module docstring)."""
    from sim.broker import free_port

    metrics_port, console_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="moldpilot-bench-console-") as tmp:
        config = Path(tmp) / "station.yaml"
        config.write_text(yaml.safe_dump({
            "station": {"site": "bench", "line": "bench", "name": "console"},
            "source": {"kind": "file", "uri": str(footage), "mode": "replay"},
            "model": {"path": str(model)}, **({"console": {"port": console_port}} if watchers else {})}))
        browsers = Watchers(watchers)  # booted before the replay starts
        try:
            cmd = [sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "replay", str(footage),
                   "--config", str(config), "--every-frame", "--speed", "max", "--json",
                   "--metrics-port", str(metrics_port)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            metrics = f"http://127.0.0.1:{metrics_port}/metrics"
            _wait_answering(metrics, proc)
            if watchers:
                _wait_answering(f"http://127.0.0.1:{console_port}/login", proc)
                browsers.watch(f"http://127.0.0.1:{console_port}", watch_fps)
            pictures_before, browsers_before_s = browsers.pictures_shown(), browsers.cpu_s()
            samples = _judged_samples(metrics, proc)  # until the replay ends
            out, err = proc.communicate()
            browsers_cpu_s = browsers.cpu_s() - browsers_before_s
            shown = browsers.frames_shown()
            pictures = [n - b for n, b in zip(browsers.pictures_shown(), pictures_before, strict=True)]
        finally:
            browsers.close()
    if proc.returncode != 0:
        raise RuntimeError(f"the bench replay failed ({proc.returncode}): {err.strip()[-2000:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    # From the first frame judged (the model is loaded) to the last sample before the footage ended.
    steady = [s for s in samples if 0 < s[1] < summary["frames_judged"]]
    if len(steady) < 2:
        raise RuntimeError(f"the replay of {footage.name} ended before its measuring window had two "
                           "samples: the footage is too short for the browsers to open the live view on "
                           "this machine")
    (t0_s, judged0, cpu0_s), (t1_s, judged1, cpu1_s) = steady[0], steady[-1]
    window_s = t1_s - t0_s
    return {"fps": round((judged1 - judged0) / window_s, 2), "window_s": round(window_s, 2),
            "window_frames": judged1 - judged0, "cpu_s": round(cpu1_s - cpu0_s, 3),
            "frames_in": summary["frames_in"], "frames_judged": summary["frames_judged"],
            "watchers": watchers, "watch_fps": watch_fps, "last_frame_shown": shown,
            "pictures_per_s": [round(n / window_s, 1) for n in pictures],
            "browsers_cpu_s": round(browsers_cpu_s, 3), "pictures": sum(pictures)}


def _judged_samples(metrics_url: str, proc: subprocess.Popen[str]) -> list[tuple[float, int, float]]:
    """(time, frames judged, the replay's CPU seconds) every SAMPLE_S while the replay runs."""
    samples = []
    while proc.poll() is None:
        cpu_s = process_tree_cpu_s([proc.pid])
        try:
            with urllib.request.urlopen(metrics_url, timeout=2) as answer:
                text = answer.read().decode()
        except OSError:
            break  # the replay is ending: its endpoint closed
        samples.append((time.monotonic(), _judged(text), cpu_s))
        time.sleep(SAMPLE_S)  # the sampling period of a measurement, not a wait for a condition
    return samples


def _judged(metrics_text: str) -> int:
    """moldpilot_frames_total{state="judged"} from a Prometheus text page."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "moldpilot_frames_total" and sample.labels.get("state") == "judged":
                return int(sample.value)
    raise RuntimeError("the replay's metrics have no moldpilot_frames_total{state=\"judged\"}")


def _wait_answering(url: str, proc: subprocess.Popen[str]) -> None:
    deadline_s = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline_s and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)  # the child is loading its model; bounded by the deadline
    raise RuntimeError(f"the watched replay did not answer on {url}")


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
        "replay_frames": best_watched["frames_in"],
        "window_s": {"without_console": best_plain["window_s"],
                     f"with_{WATCHERS}_browsers": best_watched["window_s"]},
        "pictures_per_s_each_browser": best_watched["pictures_per_s"],
        # what a browser spends per picture it draws, all its processes, over all rounds: the cost to
        # the PC it runs on (here the station's own)
        "browser_cpu_ms_per_picture": round(1000 * sum(r["browsers_cpu_s"] for r in watched)
                                            / max(1, sum(r["pictures"] for r in watched)), 1),
        "targets": {"throughput_within_3_pct": ratio >= TARGETS["throughput_ratio_min"],
                    "p99_within_1_ms": extra_ms <= TARGETS["latency_p99_extra_ms_max"]},
    }


def _cpu_ms_per_frame(runs: Runs) -> float:
    return round(1000 * sum(r["cpu_s"] for r in runs) / sum(r["window_frames"] for r in runs), 2)


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
        f"(>= {TARGETS['throughput_ratio_min']} {ok[t['throughput_within_3_pct']]}; steady windows of "
        f"{result['replay_frames']}-frame replays)",
        f"  station CPU per frame             {cpu['without_console']:.2f} -> "
        f"{cpu[f'with_{WATCHERS}_browsers']:.2f} ms (the replay process alone; browsers drew "
        f"{', '.join(f'{n:g}' for n in result['pictures_per_s_each_browser'])} pictures/s, "
        f"{result['browser_cpu_ms_per_picture']:.1f} ms of CPU each)",
        f"  triggered latency - model, p99    {lat['without_console']:.2f} -> "
        f"{lat[f'with_{WATCHERS}_browsers']:.2f} ms, +{lat['extra']:.2f} ms, "
        f"{result['latency_triggers']['without_console']:.0f} triggers each "
        f"(<= {TARGETS['latency_p99_extra_ms_max']} {ok[t['p99_within_1_ms']]})",
    ])
