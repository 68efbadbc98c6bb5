"""What the console costs the line (issue 19): `moldpilot replay --every-frame --speed max` while three
headless browsers watch the live view against the same while nobody watches, and triggered latency p99
the same way, each round's triggers pooled. Targets: throughput within 3 %, p99 within 1 ms.

The two are measured in one run, in alternating phases: the browsers watch for PHASE_S, then their
pages are frozen for PHASE_S (as Chrome freezes a tab in the background: it asks for and draws
nothing), and so on to the end of the footage. This machine's own speed drifts by about 10 % within
minutes (seen between rounds of the same replay), which is more than the 3 % to be measured; phases a
few seconds apart see the same machine. The console runs in both phases, as it does in a station:
what is measured is what watching costs.

The replay runs with a metrics endpoint, whose frames judged and the replay's CPU are read every
SAMPLE_S, from the first frame judged once every browser shows the live view to the last sample before
the footage ends. The interval after each switch is left out: it holds the switch itself. The
browsers run on this machine, so on a small one they also take cores from the replay: the figure is an
upper bound of what a browser on another PC costs the station. The station process's own CPU per
frame, watched and not, is what the console itself costs, apart from the browsers; the browsers' own
CPU, sampled with it, is the share of the cores they took.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from prometheus_client.parser import text_string_to_metric_families

from edge.bench.latency import pooled
from edge.bench.priority import STATION_NICE
from edge.bench.watchers import WATCH_FPS, Watchers, trees_cpu_s

WATCHERS = 3
TARGETS = {"throughput_ratio_min": 0.97, "latency_p99_extra_ms_max": 1.0}
START_WAIT_S = 120.0
SAMPLE_S = 0.25  # how often the window's frames and CPU are read
PHASES = ("unwatched", "watched")
PHASE_S = 3.0  # watched, then paused, ...: a few seconds see the same machine, and hold 12 samples


def windowed_replay(model: Path, footage: Path, watchers: int = WATCHERS,
                    watch_fps: int = WATCH_FPS, phase_s: float = PHASE_S) -> dict[str, Any]:
    """(d) over its steady window, with a console and `watchers` browsers on its live view at
    `watch_fps`, watching and paused in turns of `phase_s` (module docstring); {"watched": ...,
    "unwatched": ...} hold each kind of phase's frames/s, frames, seconds, and the replay's and the
    browsers' CPU seconds; "browsers_cpu_s" and "pictures" are the browsers' over the whole run.
    watchers=0: no console and no browsers; the whole window is "unwatched"."""
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
            samples = _judged_samples(metrics, proc, browsers if watchers else None, phase_s)
            out, err = proc.communicate()
            browsers_cpu_s = browsers.cpu_s() - browsers_before_s
            if browsers.paused:
                browsers.resume()
            shown = browsers.frames_shown()
            pictures = [n - b for n, b in zip(browsers.pictures_shown(), pictures_before, strict=True)]
        finally:
            browsers.close()
    if proc.returncode != 0:
        raise RuntimeError(f"the bench replay failed ({proc.returncode}): {err.strip()[-2000:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    phases = phase_totals(samples, summary["frames_judged"])
    if not phases["unwatched"]["seconds"] or (watchers and not phases["watched"]["seconds"]):
        raise RuntimeError(f"the replay of {footage.name} ended before its measuring window held both "
                           "phases: the footage is too short for the browsers to open the live view on "
                           "this machine")
    watched_s = sum(b.t_s - a.t_s for a, b in pairwise(samples) if a.phase == "watched")
    return {**phases, "frames_in": summary["frames_in"], "frames_judged": summary["frames_judged"],
            "watchers": watchers, "watch_fps": watch_fps, "phase_s": phase_s, "last_frame_shown": shown,
            "pictures_per_s": [round(n / watched_s, 1) for n in pictures] if watched_s else [],
            "browsers_cpu_s": round(browsers_cpu_s, 3), "pictures": sum(pictures)}


class Sample(NamedTuple):
    t_s: float
    judged: int  # frames judged so far
    cpu_s: float  # the replay process's CPU seconds so far
    browsers_cpu_s: float  # all the browsers' CPU seconds so far
    phase: str  # of the interval that follows
    switch: bool  # whether that interval holds a switch of the browsers


def _judged_samples(metrics_url: str, proc: subprocess.Popen[str], browsers: Watchers | None,
                    phase_s: float) -> list[Sample]:
    """A sample every SAMPLE_S while the replay runs; with browsers, they are paused or woken at the
    first sample after a phase's end."""
    samples: list[Sample] = []
    phase, phase_start_s = ("watched" if browsers else "unwatched"), time.monotonic()
    while proc.poll() is None:
        cpu_s, browsers_cpu_s = trees_cpu_s([[proc.pid], browsers.pids() if browsers else []])
        try:
            with urllib.request.urlopen(metrics_url, timeout=2) as answer:
                text = answer.read().decode()
        except OSError:
            break  # the replay is ending: its endpoint closed
        now_s = time.monotonic()
        switch = False
        if browsers is not None and now_s - phase_start_s >= phase_s:
            switch = True
            if phase == "watched":
                browsers.pause()
            else:
                browsers.resume()
            phase, phase_start_s = ("unwatched" if phase == "watched" else "watched"), now_s
        samples.append(Sample(now_s, _judged(text), cpu_s, browsers_cpu_s, phase, switch))
        time.sleep(SAMPLE_S)  # the sampling period of a measurement, not a wait for a condition
    return samples


def phase_totals(samples: list[Sample], frames_judged: int) -> dict[str, dict[str, float]]:
    """Frames, seconds, the replay's and the browsers' CPU seconds and frames/s of the watched and the
    unwatched intervals between samples inside the steady window: from the first frame judged to the
    last sample before the end."""
    totals = {phase: {"frames": 0.0, "seconds": 0.0, "cpu_s": 0.0, "browsers_cpu_s": 0.0}
              for phase in PHASES}
    steady = [s for s in samples if 0 < s.judged < frames_judged]
    for a, b in pairwise(steady):
        if not a.switch:
            total = totals[a.phase]
            total["frames"] += b.judged - a.judged
            total["seconds"] += b.t_s - a.t_s
            total["cpu_s"] += b.cpu_s - a.cpu_s
            total["browsers_cpu_s"] += b.browsers_cpu_s - a.browsers_cpu_s
    return {phase: {"fps": round(t["frames"] / t["seconds"], 2) if t["seconds"] else 0.0,
                    "frames": int(t["frames"]), "seconds": round(t["seconds"], 2),
                    "cpu_s": round(t["cpu_s"], 3), "browsers_cpu_s": round(t["browsers_cpu_s"], 3)}
            for phase, t in totals.items()}


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


def console_result(replays: Runs, latency: Runs, station_nice: int) -> dict[str, Any]:
    """The watched and the unwatched phases of every round, each pooled: frames/s, the station's own CPU
    per frame, the latency's p99 and its difference; the throughput ratio is the median of the rounds'
    own (each round pairs phases seconds apart; pooling would weigh a round by its phases' lengths,
    which the switches make unequal); the targets. `station_nice`: the station's priority in them."""
    fps = {phase: _pooled_fps(replays, phase) for phase in PHASES}
    round_ratios = [r["watched"]["fps"] / r["unwatched"]["fps"] for r in replays]
    ratio = statistics.median(round_ratios)
    lat = {phase: pooled(latency, "minus_model", phase) for phase in PHASES}
    extra_ms = lat["watched"]["p99"] - lat["unwatched"]["p99"]
    cores = len(os.sched_getaffinity(0))
    return {
        "watch_fps": replays[0]["watch_fps"],
        "station_nice": station_nice,
        "phase_s": replays[0]["phase_s"],
        "replay_fps": {**fps, "rounds": [{p: r[p]["fps"] for p in PHASES} for r in replays]},
        "throughput_ratio": round(ratio, 3),
        "throughput_ratio_rounds": [round(r, 3) for r in round_ratios],
        "latency_minus_model_p99_ms": {**{p: lat[p]["p99"] for p in PHASES}, "extra": round(extra_ms, 3)},
        "latency_minus_model_p50_ms": {p: lat[p]["p50"] for p in PHASES},
        "latency_triggers": {p: lat[p]["n"] for p in PHASES},
        # what the station process itself spends per frame: the console's own cost, apart from the
        # browsers' CPU, which the throughput ratio includes on this machine
        "station_cpu_ms_per_frame": {p: round(1000 * sum(r[p]["cpu_s"] for r in replays)
                                              / sum(r[p]["frames"] for r in replays), 2) for p in PHASES},
        # what the browsers themselves take of this machine, watching and frozen: on a small one they
        # take cores the replay would use; on the PCs and phones of a real line they take none of it
        "cores": cores,
        "browsers_share_of_cores": {p: round(sum(r[p]["browsers_cpu_s"] for r in replays)
                                             / max(1e-9, sum(r[p]["seconds"] for r in replays)) / cores, 4)
                                    for p in PHASES},
        "nothing_dropped": all(r["frames_judged"] == r["frames_in"] for r in replays),
        "replay_frames": replays[0]["frames_in"],
        "seconds": {p: round(sum(r[p]["seconds"] for r in replays), 1) for p in PHASES},
        "pictures_per_s_each_browser": [n for r in replays for n in r["pictures_per_s"]],
        # what a browser spends per picture it draws, all its processes, over all rounds: the cost to
        # the PC it runs on (here the station's own)
        "browser_cpu_ms_per_picture": round(1000 * sum(r["browsers_cpu_s"] for r in replays)
                                            / max(1, sum(r["pictures"] for r in replays)), 1),
        "targets": {"throughput_within_3_pct": ratio >= TARGETS["throughput_ratio_min"],
                    "p99_within_1_ms": extra_ms <= TARGETS["latency_p99_extra_ms_max"]},
    }


def _pooled_fps(replays: Runs, phase: str) -> float:
    return round(sum(r[phase]["frames"] for r in replays) / sum(r[phase]["seconds"] for r in replays), 2)


def format_console(result: dict[str, Any]) -> str:
    fps, lat = result["replay_fps"], result["latency_minus_model_p99_ms"]
    cpu, share = result["station_cpu_ms_per_frame"], result["browsers_share_of_cores"]
    ok = {True: "ok", False: "MISSED"}
    t = result["targets"]
    nice = result["station_nice"]
    priority = (f"the station at nice {nice}, as deploy/moldpilot.service runs it" if nice == STATION_NICE
                else f"the station at nice {nice}, not the unit's {STATION_NICE}: lowering it needs root")
    return "\n".join([
        f"console cost ({WATCHERS} headless browsers on the live view at {result['watch_fps']} "
        f"pictures/s on this machine, watching and paused in turns of {result['phase_s']:g} s; {priority})",
        f"  replay --every-frame --speed max  {fps['unwatched']:.1f} -> {fps['watched']:.1f} frames/s, "
        f"ratio {result['throughput_ratio']:.3f} (>= {TARGETS['throughput_ratio_min']} "
        f"{ok[t['throughput_within_3_pct']]}; rounds "
        f"{', '.join(f'{r:.3f}' for r in result['throughput_ratio_rounds'])}; "
        f"{result['replay_frames']}-frame replays)",
        f"  station CPU per frame             {cpu['unwatched']:.2f} -> {cpu['watched']:.2f} ms "
        f"(the replay process alone; browsers drew "
        f"{', '.join(f'{n:g}' for n in result['pictures_per_s_each_browser'])} pictures/s, "
        f"{result['browser_cpu_ms_per_picture']:.1f} ms of CPU each)",
        f"  the browsers' own CPU             {share['unwatched']:.1%} -> {share['watched']:.1%} of this "
        f"machine's {result['cores']} cores (the replay shares them here, not on a line's own screens)",
        f"  triggered latency - model, p99    {lat['unwatched']:.2f} -> {lat['watched']:.2f} ms, "
        f"{lat['extra']:+.2f} ms, {result['latency_triggers']['unwatched']:.0f} / "
        f"{result['latency_triggers']['watched']:.0f} triggers "
        f"(<= {TARGETS['latency_p99_extra_ms_max']} {ok[t['p99_within_1_ms']]})",
    ])
