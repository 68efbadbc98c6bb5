"""`moldpilot crops FOOTAGE --out DIR [-c station.yaml] [--shots FIRST:LAST]`: one PNG per recorded
trigger and cavity, the training data of your own mold (edge/crops.py says where each crop goes)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.commands.progress import progress_bar
from edge.config import load_config
from edge.crops import chosen_shots, write_crops
from edge.errors import DataError
from sim.timeline import load_timeline


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("crops", help="cut each recorded trigger's cavity crops out of footage, "
                                            "as training data")
    parser.add_argument("footage", type=Path, metavar="FOOTAGE",
                        help="video with FOOTAGE.timeline.json beside it ('moldpilot record', 'sim footage')")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="dataset folder: ok/ and <defect>/ with ground truth, unsorted/ without")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="station.yaml whose cavities (ROIs) to cut (default: the timeline's)")
    parser.add_argument("--timeline", type=Path, metavar="FILE", help="timeline, if not beside FOOTAGE")
    parser.add_argument("--shots", type=_shot_range, metavar="FIRST:LAST",
                        help="only these shots, 1-based and inclusive (e.g. 1:150 to train, 151:200 to test)")
    parser.set_defaults(func=_crops)


def _shot_range(text: str) -> tuple[int, int]:
    first, sep, last = text.partition(":")
    try:
        if sep and 1 <= int(first) <= int(last):
            return int(first), int(last)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not FIRST:LAST with 1 <= FIRST <= LAST, e.g. 1:150")


def _crops(args: argparse.Namespace) -> int:
    timeline = load_timeline(args.footage, args.timeline)
    if timeline is None:
        raise DataError(f"{args.footage} has no timeline beside it ({args.footage}.timeline.json), so no "
                        "trigger says which frames to cut; record with 'moldpilot record' or pass --timeline")
    config = load_config(args.config) if args.config else None
    sections = sorted(config.cavities, key=lambda c: c.id) if config and config.cavities else []
    rois = [c.roi for c in sections] or None
    with progress_bar(len(chosen_shots(timeline, args.shots)), "shot") as progress:
        summary = write_crops(args.footage, timeline, args.out, rois, args.shots, progress)
    print(json.dumps({"out": str(args.out), "crops": dict(sorted(summary.counts.items())),
                      "labelled": summary.labelled, "missing_frames": summary.missing_frames}), flush=True)
    return 0
