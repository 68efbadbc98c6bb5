"""Replay of recorded footage through the production pipeline, scored against the timeline's truth.

By default the timeline's recorded triggers are replayed: each shot's trigger frame is judged, one
verdict per shot and cavity, as on the line. `every_frame=True` judges every frame as free-run would
(nothing dropped: frames_judged == frames_in); frames where a shot's parts dwell in their nests carry
that shot's truth and are scored, the others (parts moving, empty fixture) are judged but not scored.

Scoring per part (per cavity and overall). NO_DECISION is rejected by the PLC, so it is never an
escape, but it is never correct either:
- accuracy          = verdicts matching the truth (OK for ok, NG for ng) / scored verdicts
- escape_rate       = ng parts judged OK / ng parts
- false_reject_rate = ok parts judged NG or NO_DECISION / ok parts
Rates are None when their denominator is 0.

Deadlines apply at `--speed realtime` (frames arrive as on the line). At `--speed max` no press is
waiting, so there is no deadline: a verdict must not depend on how busy the machine was.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from edge.config import StationConfig
from edge.frame import Frame
from edge.pipeline.build import ReplayPlan
from edge.pipeline.capture import Job
from edge.sinks.base import Sink
from edge.sinks.memory import MemorySink
from edge.station import Station
from edge.triggers import Trigger
from edge.verdict import Decision, ErrorCode, Evidence, Verdict
from sim.timeline import Timeline

log = logging.getLogger(__name__)

Speed = Literal["max", "realtime"]


@dataclass
class ReplayResult:
    summary: dict[str, Any]
    verdicts: list[Verdict]  # in the order they were judged, without evidence
    evidence: list[tuple[Verdict, Evidence]]  # the first `evidence_limit` NG / NO_DECISION parts


def replay(
    footage: str | Path,
    config: StationConfig,
    timeline: Timeline | None,
    *,
    every_frame: bool = False,
    speed: Speed = "max",
    model_path: str | Path | None = None,
    sinks: Sequence[Sink] = (),
    evidence_limit: int = 0,
    progress: bool = True,
    metrics_port: int | None = None,
    watch: Callable[[Station], None] | None = None,
    hold: Callable[[Station], None] | None = None,
) -> ReplayResult:
    """Run `footage` through the pipeline; `sinks` get every verdict too (e.g. a JSONL file).
    Without a timeline there are no recorded triggers, so every frame is judged and nothing scored.
    `evidence_limit` keeps the crops of the first N NG / NO_DECISION parts (for a report gallery).
    `metrics_port` serves the Prometheus endpoint on 127.0.0.1 for as long as the replay runs.
    `watch(station)` is called once the station runs (the console's URL is known then); `hold(station)`
    after the last verdict, before the station closes: a console keeps showing the last state until it
    returns (`moldpilot replay --console` waits for Ctrl-C there)."""
    if timeline is None and not every_frame:
        log.info("no timeline for %s: judging every frame, without scoring", footage)
        every_frame = True
    config = _replay_config(config, footage, model_path)
    memory = MemorySink("replay", evidence_limit=evidence_limit)
    plan = _TimelinePlan(timeline, every_frame)
    station = Station(config, [memory, *sinks], metrics_port=metrics_port, replay=ReplayPlan(
        plan.select, plan.leftover, realtime=speed == "realtime", fps=timeline.fps if timeline else None,
        rois_xywh=timeline.rois_xywh if timeline else None))
    reader = station.pipeline.reader
    assert reader is not None
    total = (timeline.frame_count if timeline else None) or station.source.frame_count
    try:
        with tqdm(total=total, unit="frame", desc="replay", file=sys.stderr, disable=not progress) as bar:
            station.start()
            if watch is not None:
                watch(station)
            # A progress display, not a sleep on luck: done is the condition, 0.2 s the refresh.
            while not station.pipeline.done.wait(0.2):
                bar.update(reader.frames_in - bar.n)
            bar.update(reader.frames_in - bar.n)
        if hold is not None:
            hold(station)
    finally:
        station.close()
    verdicts = memory.verdicts
    summary = {
        "footage": str(footage),
        "model": station.runner.card.name,
        "mode": "every-frame" if every_frame else "timeline",
        "speed": speed,
        **summarize(verdicts, station.pipeline.snapshot()),
    }
    # Short: the container declared more frames than decoded, or the timeline's shots outrun the file.
    short = bool(getattr(station.source, "truncated", False))
    summary["truncated"] = short or summary["parts_without_frame"] > 0
    return ReplayResult(summary, verdicts, memory.evidence)


def _replay_config(config: StationConfig, footage: str | Path,
                   model_path: str | Path | None) -> StationConfig:
    """The station's settings with `footage` as its file source (and `model_path` as its model)."""
    source = config.source.model_copy(update={"kind": "file", "uri": str(footage)})
    model = config.model.model_copy(update={"path": str(model_path)}) if model_path else config.model
    return config.model_copy(update={"source": source, "model": model})


class _TimelinePlan:
    """Turns timeline shots into jobs: trigger frames (default) or truth for dwell frames (every-frame)."""

    def __init__(self, timeline: Timeline | None, every_frame: bool) -> None:
        self.every_frame = every_frame
        # Trigger frame -> shots not yet triggered there (a recording may hold several triggers on one
        # frame); every-frame mode has no triggers to answer.
        self._pending: dict[int, list[Any]] = {}
        for s in timeline.shots if timeline and not every_frame else ():
            self._pending.setdefault(s.trigger_frame, []).append(s)
        self._dwell = ({f: s for s in timeline.shots for f in range(s.dwell_first, s.dwell_last + 1)}
                       if timeline else {})

    def select(self, frame: Frame) -> Iterable[Job]:
        if self.every_frame:
            shot = self._dwell.get(frame.frame_id)
            if shot is not None:
                frame.shot, frame.meta["cavities"] = shot.shot, _cavity_facts(shot)
            return (Job(None, frame),)
        return [Job(self._trigger(shot, frame.t_capture), frame)
                for shot in self._pending.pop(frame.frame_id, [])]

    def leftover(self) -> Iterable[Job]:
        """Shots whose trigger frame was never read (truncated file): answered NO_FRAME."""
        now_s = time.monotonic()
        return [Job(self._trigger(s, now_s), None, ErrorCode.NO_FRAME)
                for _, shots in sorted(self._pending.items()) for s in shots]

    @staticmethod
    def _trigger(shot: Any, t_trigger_s: float) -> Trigger:
        return Trigger(seq=shot.shot, t_trigger_s=t_trigger_s, part_id=shot.part_ids[0], shot=shot.shot,
                       frame_index=shot.trigger_frame, meta={"cavities": _cavity_facts(shot)})


def _cavity_facts(shot: Any) -> dict[int, dict[str, Any]]:
    """{cavity id: {"part_id", "truth"}}; truth is "ok" or the defect name (the Verdict.truth format),
    None for a recording of the line (`moldpilot record`: label null, nothing known)."""
    return {c.cavity: {"part_id": c.part_id, "truth": _truth(c.label, c.defect)} for c in shot.cavities}


def _truth(label: str | None, defect: str | None) -> str | None:
    if label is None:
        return None
    return "ok" if label == "ok" else (defect or "ng")


def with_timeline_truth(verdicts: Sequence[Verdict], timeline: Timeline) -> list[Verdict]:
    """Verdicts of a triggered run on the line (e.g. the demo's PLC), scored like a replay: a PLC
    trigger carries its shot's first part id, which names the shot, so each cavity's verdict gets the
    truth of that shot's cavity. A part id the timeline does not know stays unscored (truth None)."""
    facts = {s.part_ids[0]: _cavity_facts(s) for s in timeline.shots}
    return [replace(v, truth=facts.get(v.part_id, {}).get(v.cavity, {}).get("truth", v.truth))
            for v in verdicts]


def summarize(verdicts: Sequence[Verdict], snapshot: dict[str, Any]) -> dict[str, Any]:
    """The replay JSON summary: counts and rates overall and per cavity, plus the pipeline snapshot's
    throughput, drops and latency percentiles."""
    # A part whose frame the recording does not hold (a truncated file) was never judged: it is counted
    # apart, not scored as a false reject or an escape.
    unseen = [v for v in verdicts if v.error_code is ErrorCode.NO_FRAME]
    scored = [v for v in verdicts if v.truth is not None and v.error_code is not ErrorCode.NO_FRAME]
    scored_ids = {id(v) for v in scored}
    elapsed_s = snapshot["elapsed_s"]
    per_cavity = {}
    for cavity in sorted({v.cavity for v in verdicts}):
        of_cavity = [v for v in verdicts if v.cavity == cavity]
        per_cavity[cavity] = {
            "parts": len(of_cavity),
            "ng_rate": _rate(sum(v.decision is Decision.NG for v in of_cavity), len(of_cavity)),
            **_scores([v for v in of_cavity if id(v) in scored_ids]),
        }
    sink_drops = sum(s["dropped"] for s in snapshot["sinks"].values())
    return {
        "frames_in": snapshot["frames_in"],
        "frames_judged": snapshot["frames_judged"],
        "triggers": snapshot["triggers"],
        "parts": len(verdicts),
        "scored_parts": len(scored),
        "parts_without_frame": len(unseen),
        **_scores(scored),
        "fps": round(snapshot["frames_judged"] / elapsed_s, 2) if elapsed_s > 0 else None,
        "elapsed_s": elapsed_s,
        "verdicts": snapshot["verdicts"],
        "errors": snapshot["errors"],
        "deadline_misses": snapshot["deadline_misses"],
        "drops": snapshot["frames_dropped"] + sink_drops,
        "frames_dropped": snapshot["frames_dropped"],
        "sinks": snapshot["sinks"],
        "mean_batch": snapshot["mean_batch"],
        "latency_ms": snapshot["latency_ms"],
        "per_cavity": per_cavity,
        "confusion": _confusion(scored),
        "source_error": snapshot["source_error"],
    }


def _scores(scored: Sequence[Verdict]) -> dict[str, Any]:
    ng = [v for v in scored if v.truth != "ok"]
    ok = [v for v in scored if v.truth == "ok"]
    correct = sum(v.decision is Decision.NG for v in ng) + sum(v.decision is Decision.OK for v in ok)
    return {
        "accuracy": _rate(correct, len(scored)),
        "escape_rate": _rate(sum(v.decision is Decision.OK for v in ng), len(ng)),
        "false_reject_rate": _rate(sum(v.decision is not Decision.OK for v in ok), len(ok)),
        "ng_parts": len(ng),
        "ok_parts": len(ok),
    }


def _confusion(scored: Sequence[Verdict]) -> dict[str, dict[str, int]]:
    """{truth class: {verdict class: count}}; a verdict class is the defect named for NG, else OK or
    NO_DECISION. Shows which defects the model confuses, beyond the OK/NG rates."""
    counts: dict[str, Counter[str]] = {}
    for v in scored:
        predicted = v.defect if v.decision is Decision.NG and v.defect else v.decision.name
        counts.setdefault(v.truth or "", Counter())[predicted] += 1
    return {truth: dict(sorted(c.items())) for truth, c in sorted(counts.items())}


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None
