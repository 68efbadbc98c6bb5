"""`moldpilot demo`: the kit end to end on a simulated mold line, no hardware needed.

It records simulator footage of a multi-cavity mold (with defects and ground truth), runs it through
the production pipeline with the shipped default model, one verdict per shot and cavity as the PLC
would trigger them, and ends with a summary scored against the ground truth and an HTML report.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from edge.commands.replay_cmd import default_config, human_summary, replay_with_report
from edge.replay import load_timeline
from sim.footage import FootageSettings, write_footage

DEMO_SEED = 90210  # never used to build the default model


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("demo", help="run the whole kit on a simulated mold line and report")
    parser.add_argument("--parts", type=int, default=200, help="parts to inspect (default 200)")
    parser.add_argument("--cavities", type=int, choices=[1, 2, 4, 8], default=4, help="mold cavities")
    parser.add_argument("--out", type=Path, default=Path("var/demo"), help="folder for footage and report")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON, no progress bars")
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    shots = max(1, math.ceil(args.parts / args.cavities))
    footage = args.out / "line.avi"
    settings = FootageSettings(shots=shots, seed=DEMO_SEED, cavities=args.cavities, defect_rate=0.15)
    write_footage(footage, settings)
    config = default_config(footage, None)
    summary = replay_with_report(footage, config, load_timeline(footage), report_dir=args.out / "report",
                                 progress=not args.json)
    result = _demo_summary(summary)
    print(json.dumps(result) if args.json else "\n".join(human_summary(summary)), flush=True)
    return 0


def _demo_summary(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "parts_triggered": summary["parts"],
        "parts_judged": summary["verdicts"],
        "accuracy": summary["accuracy"],
        "escape_rate": summary["escape_rate"],
        "false_reject_rate": summary["false_reject_rate"],
        "report": summary["report"],
        "replay": summary,
    }
