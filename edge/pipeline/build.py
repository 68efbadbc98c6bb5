"""Wiring: which reader, feed and batching a station gets, from its mode and its source.

| mode / source           | reader (capture thread)       | policy   | feed            | batching     |
|-------------------------|-------------------------------|----------|-----------------|--------------|
| triggered, live         | LiveReader -> LatestFrames    | LATEST   | LiveTriggerFeed | 1 trigger    |
| triggered, pull         | TriggeredPullReader           | BLOCKING | QueueFeed       | 1 trigger    |
| free-run, live          | LiveReader -> LatestFrames    | LATEST   | LatestFeed      | newest frame |
| free-run / replay, pull | QueueReader (every frame or   | BLOCKING | QueueFeed       | micro-batch  |
|                         | the timeline's triggers)      |          |                 |              |

Triggered stations size the runner for one frame (all its cavities) so a trigger never waits for a
batch, and give it all intra-op threads (the shortest time per trigger). A station with `recipes:` gets
one runner per model file its recipes name (`open_recipes`), all loaded, checked and warmed up before
the first trigger; RECIPE_ID then only selects among them (edge/pipeline/recipes.py). Replay is about
throughput, not the time of one batch: on a CPU it runs one lane per core, each with one intra-op
thread and LANE_CROPS crops a model call (`replay_lanes`); on one lane (an accelerator) it micro-batches
`micro_batch_frames` frames (MICRO_BATCH_CROPS crops) where a backlog exists.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.config import CavitySection, StationConfig
from edge.errors import ModelError
from edge.frame import Frame
from edge.pipeline.capture import FrameOf, Job, LatestFrames, LiveReader, QueueReader, TriggeredPullReader
from edge.pipeline.feeds import LatestFeed, LiveTriggerFeed, QueueFeed
from edge.pipeline.gate import FailSafeGate
from edge.pipeline.judge import Judge
from edge.pipeline.lane import WHOLE_FRAME, Cavity
from edge.pipeline.loop import Pipeline, RoiXywh
from edge.pipeline.recipes import Recipe, RecipeBook
from edge.pipeline.runner import ModelRunner
from edge.sinks.base import FanOut, Sink, SinkPolicy
from edge.sources.base import FrameSource
from edge.triggers import Trigger, TriggerQueue
from sim.timeline import Timeline

# Replay on one lane (an accelerator, or model.threads set): crops per model call, at least one frame's.
# Larger batches gain no speed on a CPU and cost activation memory (benchmarks/bench_lanes.py).
MICRO_BATCH_CROPS = 4
# Replay on CPU lanes (one per core, one intra-op thread each): crops per model call. The shipped model
# runs each crop as its flip views (2); one crop a call is as fast as 2 or 4 and needs the least
# activation memory (benchmarks/bench_lanes.py).
LANE_CROPS = 1
LIVE_RING_DEPTH = 4  # frames kept for pairing triggers with the frame current at trigger time
MAX_FRAME_AGE_S = 0.25  # a newer frame is awaited if the newest one is older than this at the trigger


def cavities_of(sections: Sequence[CavitySection] | None,
                rois_xywh: Sequence[tuple[int, int, int, int]] | None = None) -> tuple[Cavity, ...]:
    """Cavities from station.yaml if it lists them, else from a footage timeline (cavity i at index
    i-1), else the whole frame as cavity 1."""
    if sections:
        return tuple(Cavity(c.id, tuple(c.roi)) for c in sorted(sections, key=lambda c: c.id))
    if rois_xywh:
        return tuple(Cavity(i + 1, tuple(roi)) for i, roi in enumerate(rois_xywh))  # type: ignore[arg-type]
    return WHOLE_FRAME


def replay_lanes(config: StationConfig) -> int:
    """Inference threads for replay / free-run on a file: one per core when the model runs on the CPU
    alone and its thread count is left to us (model.threads 0), else one. Whole batches side by side use
    the cores better than one batch split across threads (benchmarks/bench_lanes.py)."""
    if config.model.providers != ["cpu"] or config.model.threads != 0:
        return 1
    return len(os.sched_getaffinity(0))


def micro_batch_frames(n_cavities: int) -> int:
    """Frames per model call in replay: MICRO_BATCH_CROPS crops, at least one whole frame."""
    return max(1, MICRO_BATCH_CROPS // max(1, n_cavities))


def open_runner(config: StationConfig, n_cavities: int, micro_batch: bool,
                model_path: str | Path | None = None) -> ModelRunner:
    """The station's model, sized for one frame of crops; in replay for LANE_CROPS crops on one intra-op
    thread when replay runs several lanes, else for `micro_batch_frames` frames."""
    model = config.model
    laned = micro_batch and replay_lanes(config) > 1
    frames = micro_batch_frames(n_cavities) if micro_batch else 1
    max_batch = LANE_CROPS if laned else n_cavities * frames
    return ModelRunner(
        model_path or model.path,
        providers=model.providers,
        max_batch=max_batch,
        intra_op_threads=1 if laned else model.threads,
        trt_cache_dir=model.engine_cache_dir,
    )


def judge_for(config: StationConfig, runner: ModelRunner, *, deadline: bool = True) -> Judge:
    """The Judge of the model section (recipe 0). `deadline=False` for a replay at full speed: no press
    is waiting, and a verdict must not depend on how busy the machine was (a replay is deterministic).
    Realtime replay keeps the deadline."""
    deadline_ms = config.deadline_ms if deadline else math.inf
    return Judge.from_card(runner.card, deadline_ms, config.model.threshold, config.model.thresholds)


def open_recipes(config: StationConfig, n_cavities: int, micro_batch: bool, *, deadline: bool = True,
                 with_recipes: bool = True, version: str | None = None) -> RecipeBook:
    """Recipe 0 (the model section) and every recipe of station.yaml, each model file loaded, checked
    against its card and warmed up once (recipes naming the same file share its runner), and each
    recipe's thresholds resolved over its own model's card. A recipe model that cannot be used is a
    ModelError naming the recipe and the file; the runners opened so far are closed first.
    `with_recipes=False`: recipe 0 alone (a replay: its timeline's triggers carry no RECIPE_ID);
    `deadline=False`: see `judge_for`; `version`: the registry version of the model section's file, which
    its verdicts name (and those of recipes without a model of their own)."""
    runners: dict[Path, ModelRunner] = {}

    def runner_of(path: str) -> ModelRunner:
        key = Path(path).resolve()
        if key not in runners:
            runners[key] = open_runner(config, n_cavities, micro_batch, model_path=path)
        return runners[key]

    try:
        station = runner_of(config.model.path)
        recipes = [Recipe(0, station, judge_for(config, station, deadline=deadline), version)]
        for recipe_id, section in sorted((config.recipes or {}).items() if with_recipes else ()):
            where = f"recipes.{recipe_id}"
            try:
                runner = runner_of(section.model) if section.model else station
            except ModelError as exc:
                raise ModelError(f"recipe {recipe_id} ({where}.model = {section.model}): {exc}") from exc
            judge = Judge.from_card(runner.card, config.deadline_ms, section.threshold, section.thresholds,
                                    where)
            recipes.append(Recipe(recipe_id, runner, judge, version if runner is station else None))
    except Exception:
        for runner in runners.values():
            runner.close()
        raise
    return RecipeBook(recipes)


def timeline_frames(timeline: Timeline) -> FrameOf:
    """The frame of a recording each trigger is judged on: its shot's trigger frame. A trigger names its
    shot by number (an ASCII TRG with a shot field) or by the shot's first part id (what a PLC writes
    to PART_ID); one that names neither, a software trigger, takes the shot after the last one taken."""
    by_shot = {s.shot: s.trigger_frame for s in timeline.shots}
    by_part = {s.part_ids[0]: s.trigger_frame for s in timeline.shots}
    order = [s.trigger_frame for s in timeline.shots]
    place = {frame: i for i, frame in enumerate(order)}
    taken = [-1]  # place in `order` of the last shot taken; only the reader thread calls this

    def frame_of(trigger: Trigger) -> int | None:
        if trigger.shot is not None or trigger.part_id is not None:
            index = by_shot.get(trigger.shot) if trigger.shot is not None else by_part.get(trigger.part_id)
        else:
            index = order[taken[0] + 1] if taken[0] + 1 < len(order) else None
        if index is not None:
            taken[0] = max(taken[0], place[index])
        return index

    return frame_of


def station_pipeline(
    config: StationConfig,
    source: FrameSource,
    recipes: RecipeBook,
    sinks: Sequence[Sink],
    cavities: Sequence[Cavity],
    triggers: TriggerQueue | None,
    stop_event: threading.Event | None = None,
    timeline: Timeline | None = None,
    gate: FailSafeGate | None = None,
) -> Pipeline:
    """A production station (`moldpilot run`): triggered or free-run. In triggered mode `triggers` is
    where the PLC link and software triggers submit, and each trigger's RECIPE_ID picks its recipe from
    `recipes`; on a recording with a `timeline`, each trigger is judged on its own shot's trigger frame
    (`timeline_frames`). `stop_event` is the one the source's reconnect wrapper watches; `gate` is the
    health watch's fail-safe gate (edge/pipeline/gate.py), if it has one."""
    fanout = FanOut(sinks, SinkPolicy.DROP)
    if config.source.mode == "free-run" and source.is_live:
        ring = LatestFrames(LIVE_RING_DEPTH)
        reader = LiveReader(source, ring, stop_event)
        return Pipeline(recipes, LatestFeed(ring), fanout, cavities, reader, ring=ring, gate=gate)
    if triggers is None:  # free-run on a file or folder, or replay: every frame, nothing dropped
        return replay_pipeline(source, recipes, sinks, cavities, lanes=replay_lanes(config), gate=gate)
    if source.is_live:
        ring = LatestFrames(LIVE_RING_DEPTH)
        feed = LiveTriggerFeed(triggers, ring, MAX_FRAME_AGE_S, config.deadline_ms / 1000.0)
        pipeline = Pipeline(recipes, feed, fanout, cavities, LiveReader(source, ring, stop_event), triggers,
                            ring, gate=gate)
    else:
        jobs: queue.Queue[Job | None] = queue.Queue(triggers.maxsize)
        reader = TriggeredPullReader(source, triggers, jobs, timeline_frames(timeline) if timeline else None)
        pipeline = Pipeline(recipes, QueueFeed(jobs), fanout, cavities, reader, triggers, gate=gate)
    return pipeline


def replay_pipeline(
    source: FrameSource,
    recipes: RecipeBook,
    sinks: Sequence[Sink],
    cavities: Sequence[Cavity],
    select: Callable[[Frame], Iterable[Job]] | None = None,
    leftover: Callable[[], Iterable[Job]] = tuple,
    pace_fps: float | None = None,
    lanes: int = 1,
    gate: FailSafeGate | None = None,
) -> Pipeline:
    """Every frame of a pull source, nothing dropped (sinks included: SinkPolicy.BLOCK), judged by
    `lanes` inference threads side by side (see `replay_lanes`). `select` turns a frame into jobs
    (default: the frame itself, as free-run would judge it); `leftover` answers jobs whose frame never
    came (edge/replay.py uses both for the timeline's triggers)."""
    # Jobs decoded ahead: one take per lane (Pipeline._take: the frames whose crops fit max_batch, at
    # least one). Decoding a frame is far cheaper than judging it (`moldpilot bench`, stage b), so this
    # refills long before a take is judged, and every job waiting here adds to its trigger-to-verdict time.
    frames_per_take = max(1, recipes.max_batch // len(cavities))
    jobs: queue.Queue[Job | None] = queue.Queue(frames_per_take * lanes)
    reader = QueueReader(source, jobs, select or _every_frame, leftover, pace_fps)
    return Pipeline(recipes, QueueFeed(jobs), FanOut(sinks, SinkPolicy.BLOCK), cavities, reader,
                    micro_batch=True, lanes=[recipes.lane() for _ in range(lanes - 1)], gate=gate)


def _every_frame(frame: Frame) -> tuple[Job]:
    return (Job(None, frame),)


def recorded_rois(source: FrameSource, timeline: Timeline | None) -> Sequence[RoiXywh] | None:
    """Cavity ROIs a recording knows, for a station.yaml that lists none: a footage file's timeline, or
    the simulator's nest layout (None: the whole frame is the one cavity)."""
    if timeline is not None:
        return timeline.rois_xywh
    plan = getattr(source, "plan", None)  # edge.sources.simulator.SimSource
    return plan.layout.rois_xywh if plan is not None else None


@dataclass(frozen=True)
class ReplayPlan:
    """How a recording is fed (edge/replay.py): which jobs each frame becomes, what answers the jobs
    whose frame never came, and the cavities it knows. `realtime`: paced at `fps` (else the file's own
    rate), with deadlines; otherwise as fast as the models go, without (no press is waiting)."""

    select: Callable[[Frame], Iterable[Job]]
    leftover: Callable[[], Iterable[Job]]
    realtime: bool
    fps: float | None
    rois_xywh: Sequence[RoiXywh] | None
