"""Triggered latency: software triggers on a live-like source, through the production wiring.

The footage plays as a camera would deliver it (`LiveFootage`: real time at its recorded fps, looping),
the station is built by edge/pipeline/build.py exactly as `moldpilot run` builds a triggered station,
and each trigger is fired only after the previous one's verdicts reached the sink, plus a pause: so
none waits behind another, however slow the machine. The pause varies (seeded RNG) so that triggers
fall at every phase of the camera's frame clock, some just as a frame is being decoded.

The figures come from the pipeline's own stamps: `Verdict.timings_ms["total"]` runs from the trigger
to the moment the verdicts are handed to the sinks, `["infer"]` is the model run; their difference is
what the pipeline adds to the model (issue 4 target: p99 <= 5 ms).

With `shadow` (a model file), a candidate judges every trigger beside the active model, as `Station.
start_shadow` wires it (edge/pipeline/shadow.py); `burst` > 0 then fires that many more triggers back
to back (each as soon as the previous one was answered) for the triggers/s the line can sustain.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.bench.watchers import WATCH_FPS, Watchers
from edge.config import ConsoleSection, StationConfig
from edge.console.history import VerdictHistory
from edge.console.hooks import StationHooks, StationView
from edge.console.server import Console
from edge.percentiles import percentiles
from edge.pipeline.build import cavities_of, judge_for, open_runner, station_pipeline
from edge.pipeline.loop import Pipeline
from edge.pipeline.recipes import RecipeBook
from edge.pipeline.runner import ModelRunner
from edge.pipeline.shadow import open_shadow
from edge.sources.opencv import VideoCaptureSource
from edge.station import TRIGGER_QUEUE_SIZE, VIEW_COUNTERS_MAX_AGE_S
from edge.triggers import SoftwareTrigger, TriggerQueue
from edge.verdict import Verdict

RoiXywh = tuple[int, int, int, int]
FIRST_FRAME_WAIT_S = 5.0
ANSWER_WAIT_S = 10.0
PHASE_TRIGGERS = 25  # with browsers: watched for 25 triggers, paused for 25, ...


class LiveFootage:
    """A video file played as a camera: frames at `fps` in real time, from the start again at the end."""

    is_live = True
    frame_count = None

    def __init__(self, footage: Path, fps: float) -> None:
        self.name = f"live {footage.name}"
        self.fps: float | None = fps
        self._file = VideoCaptureSource.file(footage)
        self._due_s = 0.0

    def open(self) -> None:
        self._file.open()
        self._due_s = time.monotonic()

    def read(self) -> np.ndarray | None:
        assert self.fps is not None
        time.sleep(max(0.0, self._due_s - time.monotonic()))
        self._due_s += 1.0 / self.fps
        image = self._file.read()
        if image is None:  # end of the file: the camera keeps filming
            self._file.close()
            self._file.open()
            image = self._file.read()
        return image

    def close(self) -> None:
        self._file.close()


class Answers:
    """A sink that keeps the verdicts and lets the benchmark wait until a number of them arrived."""

    name = "bench"

    def __init__(self) -> None:
        self.verdicts: list[Verdict] = []
        self._cond = threading.Condition()

    def open(self) -> None:
        pass

    def write(self, verdicts: Sequence[Verdict]) -> None:
        with self._cond:
            self.verdicts.extend(verdicts)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.verdicts) >= count, timeout_s)

    def close(self) -> None:
        pass


def triggered_latency(
    model: Path, footage: Path, rois: Sequence[RoiXywh], fps: float, triggers: int, gap_s: float,
    watchers: int = 0, shadow: Path | None = None, burst: int = 0, watch_fps: int = WATCH_FPS,
    phase_triggers: int = PHASE_TRIGGERS,
) -> dict[str, Any]:
    """p50/p99 of trigger-to-sinks minus model time over `triggers` software triggers, each fired
    gap_s + U(0, 1/fps) after the previous one was answered. `watchers` > 0: the station's console
    serves on a free port and that many headless browsers watch its live view at `watch_fps`, paused
    and woken in turns of `phase_triggers` triggers (edge/bench/console_cost.py says why); each
    sample's phase comes back in `phase_of_sample`. `shadow`, `burst`: see the module docstring; the
    per-trigger samples come back too, to pool rounds."""
    config = StationConfig.model_validate({
        "station": {"site": "bench", "line": "bench", "name": "bench"},
        "source": {"kind": "file", "uri": str(footage), "mode": "triggered"},
        "model": {"path": str(model)},
        "cavities": [{"id": i + 1, "roi": list(roi)} for i, roi in enumerate(rois)],
    })
    cavities = cavities_of(config.cavities)
    runner = open_runner(config, len(cavities), micro_batch=False)
    source = LiveFootage(footage, fps)
    source.open()
    answers = Answers()
    recipes = RecipeBook.single(runner, judge_for(config, runner))
    # As edge/station.py does: the queue answers what it cannot take through the pipeline built next.
    trigger_queue = TriggerQueue(TRIGGER_QUEUE_SIZE, on_reject=lambda trigger: pipeline.reject(trigger))
    history = VerdictHistory() if watchers else None
    pipeline = station_pipeline(config, source, recipes, [answers, *([history] if history else [])], cavities,
                                trigger_queue)
    console = _console(config, pipeline, runner, history) if history is not None else None
    candidate = open_shadow(shadow) if shadow is not None else None
    if candidate is not None:
        candidate.start()
        pipeline.swap_shadow(candidate)
    browsers = None
    phase_of: dict[int, str] = {}  # part id -> watched / unwatched
    rng = np.random.default_rng(0)
    try:
        pipeline.start()
        deadline_s = time.monotonic() + FIRST_FRAME_WAIT_S
        while pipeline.reader.frames_in == 0 and time.monotonic() < deadline_s:  # type: ignore[union-attr]
            time.sleep(0.01)  # the camera's first frame, so no trigger waits for the camera to start
        software = SoftwareTrigger(trigger_queue)
        if console is not None:
            browsers = _watch(console, watchers, watch_fps, software, answers, len(cavities))
        warm_up = len(answers.verdicts)  # part 0: the browsers' first frame, not measured
        for part_id in range(1, triggers + 1):
            if browsers is not None and part_id > 1 and (part_id - 1) % phase_triggers == 0:
                if browsers.paused:
                    browsers.resume()
                else:
                    browsers.pause()
            phase_of[part_id] = "watched" if browsers is not None and not browsers.paused else "unwatched"
            time.sleep(gap_s + rng.uniform(0.0, 1.0 / fps))
            software.fire(part_id=part_id)
            if not answers.wait_for(warm_up + part_id * len(cavities), ANSWER_WAIT_S):
                raise RuntimeError(f"trigger {part_id} got no verdicts within {ANSWER_WAIT_S} s")
        answered = warm_up + triggers * len(cavities)
        burst_s = _burst(software, answers, answered, triggers, burst, len(cavities))
    finally:
        if browsers is not None:
            browsers.close()
        pipeline.close()
        if candidate is not None:
            candidate.close()  # judges what it still had queued: its counts are final
        shadow_view = candidate.view() if candidate is not None else None
        if console is not None:
            console.close()
        source.close()
        runner.close()
    # The timings dict is shared by the cavities of one trigger: one sample per trigger.
    measured = [v for v in answers.verdicts if v.part_id is not None and 0 < v.part_id <= triggers]
    per_trigger = {v.seq: v.timings_ms for v in measured}
    phases = {v.seq: phase_of[v.part_id] for v in measured if v.part_id is not None}
    overhead = [t["total"] - t.get("infer", 0.0) for t in per_trigger.values()]
    overhead_ms = percentiles(overhead)
    infer = [t.get("infer", 0.0) for t in per_trigger.values()]
    total = [t["total"] for t in per_trigger.values()]
    return {
        "triggers": triggers,
        "verdicts": len(measured),
        "errors": sum(v.error_code != 0 for v in measured),
        "watchers": watchers,
        "p50_ms": overhead_ms["p50"],
        "p99_ms": overhead_ms["p99"],
        "max_ms": overhead_ms["max"],
        "model_p50_ms": percentiles(infer)["p50"],
        "total_ms": percentiles(total),
        "samples_ms": {"total": total, "minus_model": overhead},
        "phase_of_sample": list(phases.values()),
        "burst_verdicts": sum(1 for v in answers.verdicts if v.part_id is not None and v.part_id > triggers),
        "burst_triggers_per_s": round(burst / burst_s, 2) if burst and burst_s else None,
        "shadow": shadow_view,
    }


def pooled(rounds: Sequence[dict[str, Any]], key: str, phase: str | None = None) -> dict[str, float]:
    """n, p50, p99 and max of every round's per-trigger `samples_ms[key]` ("total" or "minus_model")
    together: a p99 of 150 samples alone is their 2nd largest. `phase`: only the triggers of that
    phase ("watched" or "unwatched")."""
    figures = percentiles(x for r in rounds
                          for x, p in zip(r["samples_ms"][key], r["phase_of_sample"], strict=True)
                          if phase is None or p == phase)
    return {k: figures[k] for k in ("n", "p50", "p99", "max")}


def _burst(software: SoftwareTrigger, answers: Answers, answered: int, first: int, count: int,
           n_cavities: int) -> float:
    """Fire `count` triggers back to back (part ids after `first`), each once the previous one was
    answered; the seconds it took."""
    t0_s = time.monotonic()
    for k in range(1, count + 1):
        software.fire(part_id=first + k)
        if not answers.wait_for(answered + k * n_cavities, ANSWER_WAIT_S):
            raise RuntimeError(f"burst trigger {k} got no verdicts within {ANSWER_WAIT_S} s")
    return time.monotonic() - t0_s


def _watch(console: Console, watchers: int, watch_fps: int, software: SoftwareTrigger, answers: Answers,
           n_cavities: int) -> Watchers:
    """Start the console, boot the browsers, judge part 0 (a frame for them to show, not measured)
    and point them at the live view."""
    console.start()
    browsers = Watchers(watchers)
    software.fire(part_id=0)
    answers.wait_for(n_cavities, ANSWER_WAIT_S)
    browsers.watch(console.url, watch_fps)
    return browsers


def _console(config: StationConfig, pipeline: Pipeline, runner: ModelRunner,
             history: VerdictHistory) -> Console:
    """The console a station with a console: section builds, over this bench's pipeline."""

    def view() -> StationView:
        return StationView(t_s=time.monotonic(), latest_frame=pipeline.latest_frame,
                           latest_verdicts=dict(pipeline.latest_verdicts),
                           counters=pipeline.shared_snapshot(VIEW_COUNTERS_MAX_AGE_S),
                           plc=None, camera=None, mqtt=None,
                           model={"name": runner.card.name, "created": runner.card.created,
                                  "sha256": runner.card.sha256[:12], "provider": runner.provider},
                           cavities={c.id: c.roi_xywh for c in pipeline.cavities}, health=None)

    def refuse(_: object) -> None:
        raise RuntimeError("the benchmark's console changes nothing")

    hooks = StationHooks(view=view, apply_rois=refuse, model_crop=lambda image, roi: image,
                         config=lambda: config, history=history)
    return Console(ConsoleSection(port=0), hooks)
