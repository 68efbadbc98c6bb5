"""The `moldpilot` command: parses the verb and hands it to its module in `edge.commands`.

User errors (`MoldPilotError`) become one line on stderr and exit code 2; the CLI never prints a
traceback for something the user can fix.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from edge import __version__
from edge.commands import (
    bench_cmd,
    config_cmd,
    console_cmd,
    crops_cmd,
    demo_cmd,
    doctor_cmd,
    eval_cmd,
    health_cmd,
    models_cmd,
    quantize_cmd,
    record_cmd,
    replay_cmd,
    run_cmd,
    sim_cmd,
    train_cmd,
)
from edge.errors import MoldPilotError
from sim.timeline import TimelineError

VERB_MODULES = (config_cmd, sim_cmd, run_cmd, replay_cmd, train_cmd, eval_cmd, quantize_cmd, demo_cmd,
                bench_cmd, doctor_cmd, record_cmd, crops_cmd, health_cmd, console_cmd, models_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moldpilot",
        description="MoldPilot: AI inspection for mold and casting lines (camera -> ONNX -> PLC + MQTT).",
    )
    parser.add_argument("--version", action="version", version=f"moldpilot {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity"
    )
    parser.add_argument(
        "--log-format", default="text", choices=["text", "json"], help="json for journald/production"
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    for module in VERB_MODULES:
        module.add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from edge.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    try:
        return int(args.func(args) or 0)
    except (MoldPilotError, TimelineError) as exc:
        print(f"moldpilot: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `moldpilot ... | head` closed our stdout early: not an error, and no traceback for it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        logging.getLogger(__name__).warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
