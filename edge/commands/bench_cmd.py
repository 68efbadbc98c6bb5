"""`moldpilot bench [--model M] [--shots N] [--json]`: the issue 4 benchmark on this machine (edge/bench).

Takes a few minutes; run it on a quiet machine, the figures are only as good as the idle cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.errors import ModelError


def add_parser(verbs: argparse._SubParsersAction) -> None:
    from edge.bench.suite import DEFAULT_ROUNDS, DEFAULT_SHOTS
    from edge.bench.watchers import WATCH_FPS
    from edge.console.live import RATES_FPS

    parser = verbs.add_parser("bench", help="measure the pipeline against bare onnxruntime and a naive loop")
    parser.add_argument("--model", metavar="M", help="ONNX model (default: the shipped one)")
    parser.add_argument("--shots", type=int, default=DEFAULT_SHOTS, metavar="N",
                        help=f"shots of 4-cavity footage, 20 frames each (default {DEFAULT_SHOTS})")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, metavar="N",
                        help=f"rounds of the throughput stages, each stage reports its best "
                             f"(default {DEFAULT_ROUNDS})")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--console-only", action="store_true",
                        help="only the console's cost: replay and triggered latency while three headless "
                             "browsers watch the live view and while they are paused, in turns")
    parser.add_argument("--watch-fps", type=int, choices=RATES_FPS, default=WATCH_FPS, metavar="N",
                        help="the browsers' rate on the live view in the console stage, one of the page's "
                             f"{', '.join(map(str, RATES_FPS))} (default {WATCH_FPS}, the worst case)")
    parser.add_argument("--health-only", action="store_true",
                        help="only the health watch's cost: replay without and with a health: section")
    parser.add_argument("--shadow-only", action="store_true",
                        help="only shadow mode's cost: triggered latency and back-to-back triggers/s "
                             "without and with a candidate model judging beside the active one")
    parser.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from edge.bench.console_cost import format_console
    from edge.bench.shadow_cost import format_shadow
    from edge.bench.suite import format_table, run_one_stage, run_suite
    from edge.commands.replay_cmd import default_model

    model = Path(args.model) if args.model else default_model()
    if not model.is_file():
        raise ModelError(f"model file not found: {model}; check --model")
    if args.shots < 1:
        raise ModelError(f"--shots must be >= 1, got {args.shots}")
    if args.rounds < 1:
        raise ModelError(f"--rounds must be >= 1, got {args.rounds}")
    def progress(step: str) -> None:
        print(step, file=sys.stderr, flush=True)

    if args.shadow_only:
        result = run_one_stage("shadow", model, shots=args.shots, rounds=args.rounds, progress=progress)
        table = format_shadow(result) + f"\n  1-min load {result['load_avg_1m']}"
    elif args.health_only:
        result = run_one_stage("health", model, shots=args.shots, rounds=args.rounds, progress=progress)
        table = (f"health watch: {result['fps_plain']} frames/s without, {result['fps_watched']} with, "
                 f"ratio {result['ratio']} (target >= {result['target_ratio_min']})")
    elif args.console_only:
        result = run_one_stage("console", model, shots=args.shots, rounds=args.rounds, progress=progress,
                               watch_fps=args.watch_fps)
        table = (format_console(result) if "replay_fps" in result
                 else f"console stage: {result.get('skipped') or result.get('failed')}")
    else:
        result = run_suite(model, shots=args.shots, rounds=args.rounds, progress=progress)
        table = format_table(result)
        console = result["console"]
        table += "\n" + (format_console(console) if "replay_fps" in console
                         else f"console stage: {console.get('skipped') or console.get('failed')}")
    print(json.dumps(result) if args.json else table, flush=True)
    return 0
