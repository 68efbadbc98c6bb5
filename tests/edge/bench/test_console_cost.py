"""The console stage: a replay measured over its steady window, read from its metrics endpoint; and
the arithmetic: the best round of each replay for the ratio, the station's own CPU per frame over all
rounds, the latency rounds pooled, and the targets (the whole stage needs browsers and minutes:
`moldpilot bench --console-only`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.bench.console_cost import console_result, format_console, windowed_replay
from edge.commands.replay_cmd import default_model
from sim.footage import FootageSettings, write_footage


def _latency(*samples_ms: float) -> dict[str, Any]:
    """One latency round: its per-trigger samples of total minus model."""
    return {"p99_ms": max(samples_ms), "samples_ms": {"minus_model": list(samples_ms)}}


def _run(fps: float, cpu_s: float, frames: int = 1000, browsers_cpu_s: float = 10.0) -> dict[str, Any]:
    return {"fps": fps, "cpu_s": cpu_s, "frames_in": frames, "frames_judged": frames, "window_frames": frames,
            "window_s": frames / fps,
            "pictures_per_s": [9.5, 8.0, 7.5], "browsers_cpu_s": browsers_cpu_s, "pictures": 500,
            "watch_fps": 10}


def test_the_station_cpu_per_frame_is_over_all_rounds_and_the_ratio_is_best_against_best() -> None:
    plain = [_run(30.0, 60.0), _run(32.0, 62.0)]
    watched = [_run(31.5, 63.0, browsers_cpu_s=10.0), _run(29.0, 65.0, browsers_cpu_s=14.0)]
    result = console_result(plain, watched, [_latency(0.5, 0.7, 1.0)] * 2, [_latency(0.6, 0.8, 1.5)] * 2)
    assert result["throughput_ratio"] == round(31.5 / 32.0, 3)
    assert result["latency_triggers"] == {"without_console": 6, "with_3_browsers": 6}
    assert result["latency_minus_model_p50_ms"] == {"without_console": 0.7, "with_3_browsers": 0.8}
    assert result["station_cpu_ms_per_frame"] == {"without_console": 61.0, "with_3_browsers": 64.0}
    assert result["browser_cpu_ms_per_picture"] == 24.0  # 24 s over 1,000 pictures
    assert result["targets"] == {"throughput_within_3_pct": True, "p99_within_1_ms": True}
    text = format_console(result)
    assert "at 10 pictures/s" in text and "61.00 -> 64.00 ms" in text and "1000-frame replays" in text
    assert "9.5, 8, 7.5 pictures/s, 24.0 ms of CPU each" in text


def test_a_slow_watched_replay_misses_the_throughput_target() -> None:
    result = console_result([_run(32.0, 60.0)], [_run(30.0, 60.0)], [_latency(0.7, 2.0)],
                            [_latency(0.8, 4.0)])
    assert result["targets"] == {"throughput_within_3_pct": False, "p99_within_1_ms": False}
    assert "MISSED" in format_console(result)


def test_a_replay_is_measured_from_its_first_verdict_to_before_its_end(tmp_path: Path) -> None:
    """The real command with its metrics endpoint, no browsers: the window holds neither the model load
    nor the end of the footage, and its frames/s is its own frames over its own seconds."""
    footage = tmp_path / "f.avi"
    write_footage(footage, FootageSettings(shots=20, seed=4242, cavities=4))
    run = windowed_replay(default_model(), footage, watchers=0)
    assert run["frames_in"] == run["frames_judged"] == 400
    assert 0 < run["window_frames"] < 400 and run["window_s"] > 0 and run["cpu_s"] > 0
    assert run["fps"] == pytest.approx(run["window_frames"] / run["window_s"], rel=0.01)
    assert run["pictures"] == 0 and run["pictures_per_s"] == []
