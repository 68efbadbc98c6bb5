"""The `moldpilot` command: parses the verb and hands it to its module in `edge.commands`.

User errors (`MoldPilotError`) become one line on stderr and exit code 2; the CLI never prints a
traceback for something the user can fix.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from edge import __version__
from edge.errors import MoldPilotError
from sim.timeline import TimelineError

# Each verb is edge.commands.<verb>_cmd. Only the verb being run is imported: some verbs' modules load a
# web stack, scipy or onnx, and a replay or a run must not pay start-up time and memory for them
# (issue 22). No verb, an unknown one or --help imports them all, so argparse can list every verb.
VERBS = ("config", "sim", "run", "replay", "train", "eval", "quantize", "demo", "bench", "doctor", "record",
         "crops", "health", "console", "models")


def verb_in(argv: Sequence[str]) -> str | None:
    """The verb `argv` names, when it is one of VERBS; else None."""
    before_verb = argparse.ArgumentParser(prog="moldpilot", add_help=False)
    before_verb.add_argument("--log-level")
    before_verb.add_argument("--log-format")
    before_verb.add_argument("rest", nargs=argparse.REMAINDER)
    rest = before_verb.parse_known_args(argv)[0].rest
    return rest[0] if rest and rest[0] in VERBS else None


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or only `verb`'s sub-command when one is given."""
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
    for name in VERBS if verb is None else (verb,):
        importlib.import_module(f"edge.commands.{name}_cmd").add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(verb_in(argv)).parse_args(argv)
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
