"""`moldpilot demo`: the kit end to end on a simulated mold line, no hardware needed.

It writes simulator footage of a multi-cavity mold (with defects and ground truth), starts the local
MQTT broker and a pty cable, runs `moldpilot run` in triggered mode with its Modbus RTU slave on one
end while the virtual PLC triggers every shot from the other, and a supervisor's MQTT client counts
the results. A live status line runs on stderr; the end is a summary scored against the ground truth
and an HTML report. How a trigger maps to a frame: edge/demo/line.py. Exit code 0 only when parts
judged == parts triggered == parts the PLC got results for == results received over MQTT.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from tqdm import tqdm

from edge.commands.replay_cmd import default_model
from edge.demo.line import write_line
from edge.demo.session import run_line
from edge.demo.status import StatusLine
from edge.demo.summary import demo_summary, human_lines
from edge.errors import ModelError
from edge.report import write_report
from sim.footage import FootageSettings

DEMO_SEED = 90210  # never used to build the default model
DEFECT_RATE = 0.15
DEFAULT_PARTS = 120  # 30 shots of 4 cavities at the 2 s cycle: about a minute
DEMO_CONSOLE_PORT = 8080


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("demo", help="run the whole kit on a simulated mold line and report")
    parser.add_argument("--parts", type=int, default=DEFAULT_PARTS,
                        help=f"parts to inspect, rounded up to whole shots (default {DEFAULT_PARTS})")
    parser.add_argument("--cavities", type=int, choices=[1, 2, 4, 8], default=4, help="mold cavities")
    parser.add_argument("--model", type=Path, help="ONNX model (default: the shipped models/default)")
    parser.add_argument("--deadline-ms", type=float, default=500.0,
                        help="trigger to verdict; late = NO_DECISION")
    parser.add_argument("--cycle-s", type=float, default=None,
                        help="seconds between the PLC's triggers (default: the footage's 2 s cycle; "
                             "0: back to back)")
    parser.add_argument("--out", type=Path, default=Path("var/demo"), help="folder for footage and report")
    parser.add_argument("--json", action="store_true", help="print only the summary as JSON on stdout")
    parser.add_argument("--console", action="store_true",
                        help="serve the station console (its URL is printed) and keep it up after the "
                             "last shot until Ctrl-C")
    parser.add_argument("--console-port", type=int, default=DEMO_CONSOLE_PORT, metavar="PORT",
                        help=f"console port on 127.0.0.1 (default {DEMO_CONSOLE_PORT})")
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    model = args.model or default_model()
    if not model.is_file():
        raise ModelError(f"model file not found: {model}; check --model")
    out: Path = args.out.resolve()  # the runtime child and station.yaml need absolute paths
    shots = max(1, math.ceil(args.parts / args.cavities))
    settings = FootageSettings(shots=shots, seed=DEMO_SEED, cavities=args.cavities, defect_rate=DEFECT_RATE)
    frames = shots * round(settings.fps * settings.cycle_s)
    with tqdm(total=frames, unit="frame", desc="footage", file=sys.stderr, disable=args.json) as bar:
        _, timeline = write_line(out, settings, bar.update)
    cycle_s = settings.cycle_s if args.cycle_s is None else args.cycle_s
    run = run_line(out, out / "camera", model, timeline, args.deadline_ms, cycle_s,
                   StatusLine(enabled=not args.json), args.console_port if args.console else None)
    summary, verdicts = demo_summary(run, timeline, args.parts)
    report = write_report(out / "report", {**summary["scored"], "title": "MoldPilot demo",
                                           "model": model.name, "source": str(out / "line.avi")},
                         verdicts)
    summary = {**summary, "report": str(report)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary) if args.json else "\n".join(human_lines(summary)), flush=True)
    return 0 if summary["consistent"] else 1
