"""The console stage: a replay measured over its steady window, read from its metrics endpoint, in
watched and paused phases; and the arithmetic: each phase pooled over the rounds, the interval that
holds a switch left out, the latency's triggers split by phase, and the targets (the whole stage needs
browsers and minutes: `moldpilot bench --console-only`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.bench.console_cost import Sample, console_result, format_console, phase_totals, windowed_replay
from edge.bench.latency import triggered_latency
from edge.bench.watchers import missing
from edge.commands.replay_cmd import default_model
from sim.footage import FootageSettings, write_footage
from sim.timeline import load_timeline


def _latency(unwatched_ms: list[float], watched_ms: list[float]) -> dict[str, Any]:
    """One latency round: its per-trigger samples of total minus model, and each one's phase."""
    return {"samples_ms": {"minus_model": unwatched_ms + watched_ms},
            "phase_of_sample": ["unwatched"] * len(unwatched_ms) + ["watched"] * len(watched_ms)}


def _phase(fps: float, cpu_s: float, frames: int = 1000, browsers_cpu_s: float = 0.0) -> dict[str, float]:
    return {"fps": fps, "frames": frames, "seconds": frames / fps, "cpu_s": cpu_s,
            "browsers_cpu_s": browsers_cpu_s}


def _run(unwatched: dict[str, float], watched: dict[str, float],
         browsers_cpu_s: float = 10.0) -> dict[str, Any]:
    return {"unwatched": unwatched, "watched": watched, "frames_in": 5000, "frames_judged": 5000,
            "pictures_per_s": [9.5, 8.0, 7.5], "browsers_cpu_s": browsers_cpu_s, "pictures": 500,
            "watch_fps": 10, "phase_s": 3.0}


def test_each_phase_is_pooled_over_the_rounds_and_the_ratio_is_the_rounds_median() -> None:
    runs = [_run(_phase(30.0, 60.0), _phase(29.0, 63.0, browsers_cpu_s=8.0), browsers_cpu_s=10.0),
            _run(_phase(40.0, 62.0, frames=2000), _phase(38.0, 65.0), browsers_cpu_s=14.0),
            _run(_phase(30.0, 60.0), _phase(30.0, 60.0, frames=1), browsers_cpu_s=0.0)]
    result = console_result(runs, [_latency([0.5, 0.7, 1.0], [0.6, 0.8, 1.5])] * 2, station_nice=-10)
    assert result["throughput_ratio"] < 0.97
    unwatched_s, watched_s = 1000 / 30 + 2000 / 40 + 1000 / 30, 1000 / 29 + 1000 / 38 + 1 / 30
    assert result["replay_fps"]["unwatched"] == round(4000 / unwatched_s, 2)
    assert result["replay_fps"]["watched"] == round(2001 / watched_s, 2)
    assert result["throughput_ratio_rounds"] == [round(29 / 30, 3), round(38 / 40, 3), 1.0]
    assert result["throughput_ratio"] == round(29 / 30, 3)
    assert result["latency_triggers"] == {"unwatched": 6, "watched": 6}
    assert result["latency_minus_model_p50_ms"] == {"unwatched": 0.7, "watched": 0.8}
    assert result["station_cpu_ms_per_frame"] == {"unwatched": round(182_000 / 4000, 2),
                                                  "watched": round(188_000 / 2001, 2)}
    assert result["browser_cpu_ms_per_picture"] == 16.0  # 24 s over 1,500 pictures
    cores = result["cores"]
    assert cores >= 1
    assert result["browsers_share_of_cores"] == {"unwatched": 0.0,
                                                 "watched": round(8.0 / watched_s / cores, 4)}
    assert result["targets"] == {"throughput_within_3_pct": False, "p99_within_1_ms": True}
    text = format_console(result)
    assert "at 10 pictures/s" in text and "in turns of 3 s" in text and "5000-frame replays" in text
    assert "the station at nice -10, as deploy/moldpilot.service runs it" in text
    assert "45.50 -> 93.95 ms" in text and "16.0 ms of CPU each" in text and "MISSED" in text
    assert f"0.0% -> {8.0 / watched_s / cores:.1%} of this machine's {cores} cores" in text


def test_a_watched_phase_as_fast_as_a_paused_one_meets_the_targets() -> None:
    result = console_result([_run(_phase(32.0, 60.0), _phase(31.5, 60.0))],
                            [_latency([0.7, 2.0], [0.8, 2.5])], station_nice=0)
    assert result["targets"] == {"throughput_within_3_pct": True, "p99_within_1_ms": True}
    text = format_console(result)
    assert "MISSED" not in text
    assert "the station at nice 0, not the unit's -10: lowering it needs root" in text


def test_the_interval_after_a_switch_and_the_ends_of_the_footage_are_left_out() -> None:
    samples = [Sample(0.0, 0, 0.0, 0.0, "watched", False),     # the model still loading: before the window
               Sample(1.0, 100, 2.0, 1.0, "watched", False),   # 1.0 -> 2.0 watched: 90 frames
               Sample(2.0, 190, 4.0, 1.5, "unwatched", True),  # the switch: left out
               Sample(3.0, 250, 6.0, 1.7, "unwatched", False),  # 3.0 -> 4.0 unwatched: 100 frames
               Sample(4.0, 350, 8.0, 1.8, "unwatched", False),
               Sample(5.0, 400, 9.0, 1.9, "unwatched", False)]  # the end of the footage: after the window
    phases = phase_totals(samples, frames_judged=400)
    assert phases["watched"] == {"fps": 90.0, "frames": 90, "seconds": 1.0, "cpu_s": 2.0,
                                 "browsers_cpu_s": 0.5}
    assert phases["unwatched"] == {"fps": 100.0, "frames": 100, "seconds": 1.0, "cpu_s": 2.0,
                                   "browsers_cpu_s": 0.1}


def test_a_replay_is_measured_from_its_first_verdict_to_before_its_end(tmp_path: Path) -> None:
    """The real command with its metrics endpoint, no browsers: the window holds neither the model load
    nor the end of the footage, and its frames/s is its own frames over its own seconds."""
    footage = tmp_path / "f.avi"
    write_footage(footage, FootageSettings(shots=20, seed=4242, cavities=4))
    run = windowed_replay(default_model(), footage, watchers=0)
    assert run["frames_in"] == run["frames_judged"] == 400
    window = run["unwatched"]
    assert 0 < window["frames"] < 400 and window["seconds"] > 0 and window["cpu_s"] > 0
    assert window["fps"] == pytest.approx(window["frames"] / window["seconds"], rel=0.01)
    assert run["watched"]["seconds"] == 0  # no browsers: nothing watched
    assert run["pictures"] == 0 and run["pictures_per_s"] == []


@pytest.mark.skipif(missing() is not None, reason=f"browsers: {missing()}")
def test_the_latency_triggers_alternate_between_a_watching_and_a_paused_browser(tmp_path: Path) -> None:
    """A real headless Chromium on the console's live view, paused and woken through the DevTools
    protocol every two triggers; every trigger is answered and labelled with its phase."""
    footage = tmp_path / "f.avi"
    write_footage(footage, FootageSettings(shots=2, seed=4242, cavities=4))
    timeline = load_timeline(footage)
    assert timeline is not None
    run = triggered_latency(default_model(), footage, timeline.rois_xywh, timeline.fps, triggers=6,
                            gap_s=0.03, watchers=1, phase_triggers=2)
    assert run["verdicts"] == 6 * 4 and run["errors"] == 0
    assert run["phase_of_sample"] == ["watched", "watched", "unwatched", "unwatched", "watched", "watched"]
