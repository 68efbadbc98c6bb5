"""`moldpilot health reference -c station.yaml [--shots N]`: take the health watch's reference at
commissioning, from the configured source, into the folder of station.yaml `health.reference`.

Frames of the loaded fixture, as the watch will see them on the line: a recording with its timeline
gives the trigger frames of its first N shots; any other source gives N frames, one every
`--every-s` seconds (take it while good parts run). The station's model judges every cavity of those
frames, and the scores of the parts it finds good are the score-drift check's reference distribution.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np

from edge.config import StationConfig, load_config
from edge.errors import ConfigError, DataError
from edge.health.reference import Reference
from edge.pipeline.build import cavities_of, judge_for, open_runner, recorded_rois
from edge.sources.factory import open_source
from sim.timeline import load_timeline

DEFAULT_SHOTS = 10


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("health", help="the camera and model health watch")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    take = actions.add_parser("reference", help="take the commissioning reference from the configured source")
    take.add_argument("-c", "--config", required=True, metavar="FILE",
                      help="station.yaml with a health: section")
    take.add_argument("--shots", type=int, default=DEFAULT_SHOTS,
                      help=f"frames to take (default {DEFAULT_SHOTS})")
    take.add_argument("--every-s", type=float, default=2.0,
                      help="seconds between frames of a live source (default 2: about one press cycle)")
    take.set_defaults(func=_reference)


def _reference(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if config.health is None:
        raise ConfigError(f"{args.config} has no health: section; add 'health: {{reference: var/health}}'")
    frames, rois = reference_frames(config, args.shots, args.every_s)
    scores = good_scores(config, frames, rois)
    folder = Reference.build(frames, rois, good_scores=scores).save(Path(config.health.reference))
    print(json.dumps({"reference": str(folder), "frames": len(frames), "cavities": len(rois),
                      "good_scores": len(scores)}), flush=True)
    return 0


def good_scores(config: StationConfig, frames: list[np.ndarray],
                rois: list[tuple[int, int, int, int]]) -> list[float]:
    """P(defect) of every cavity of `frames` that the station's model (recipe 0) judges OK."""
    runner = open_runner(config, len(rois), micro_batch=False)
    try:
        judge = judge_for(config, runner)
        scores: list[float] = []
        for frame in frames:
            for slot, roi in enumerate(rois):
                runner.preprocess_into(slot, frame, roi)
            batch = judge.score(runner.infer(len(rois)).probs)
            scores += [float(p) for p, ng in zip(batch.p_defect, batch.ng, strict=True) if not ng]
    finally:
        runner.close()
    return scores


def reference_frames(config: StationConfig, shots: int,
                     every_s: float) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """`shots` frames of the fixture from the configured source and the cavity ROIs to judge them by."""
    src = config.source
    timeline = load_timeline(src.uri, src.timeline) if src.kind == "file" else None
    source = open_source(src.kind, src.uri, reconnect_max_s=src.reconnect_max_s, stop_event=threading.Event())
    try:
        wanted = {s.trigger_frame for s in timeline.shots[:shots]} if timeline else None
        frames: list[np.ndarray] = []
        index = 0
        while len(frames) < shots and (image := source.read()) is not None:
            if wanted is None or index in wanted:
                frames.append(image)
                if wanted is None and source.is_live:
                    time.sleep(every_s)  # a live camera: spread the frames over several shots
            index += 1
        rois = [c.roi_xywh for c in cavities_of(config.cavities, recorded_rois(source, timeline))]
    finally:
        source.close()
    if not frames:
        raise DataError(f"source {src.uri} gave no frame; check it with 'moldpilot doctor'")
    h, w = frames[0].shape[:2]
    return frames, [roi if roi is not None else (0, 0, w, h) for roi in rois]
