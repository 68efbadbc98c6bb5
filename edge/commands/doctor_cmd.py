"""`moldpilot doctor -c station.yaml`: check the setup before the line starts, each problem with its fix.

Prints a table (one row per check as it finishes, the fix under each one that did not pass), or JSON
with `--json`. Exit code 0 when no check FAILed (WARN and SKIP do not fail), else 1. A broken config is
a finding like any other, reported in the table, not an error that stops the doctor.
"""

from __future__ import annotations

import argparse
import json
import textwrap

from edge.doctor import CheckResult, Status, run_checks

NAME_WIDTH, STATUS_WIDTH, TEXT_WIDTH = 16, 6, 88


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("doctor", help="check the setup: config, camera, serial port, PLC, broker, "
                                             "model, disk, clock")
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="station.yaml")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    if args.json:
        results = run_checks(args.config)
        print(json.dumps([r.to_dict() for r in results], indent=1), flush=True)
    else:
        print(f"{'CHECK':<{NAME_WIDTH}} {'STATUS':<{STATUS_WIDTH}} DETAIL", flush=True)
        results = run_checks(args.config, report=lambda r: print("\n".join(table_rows(r)), flush=True))
        counts = {s: sum(r.status is s for r in results) for s in Status}
        print("\n" + ", ".join(f"{n} {s.value}" for s, n in counts.items() if n), flush=True)
    return 1 if any(r.status is Status.FAIL for r in results) else 0


def table_rows(result: CheckResult) -> list[str]:
    indent = " " * (NAME_WIDTH + STATUS_WIDTH + 2)
    # A broken config reports one line per mistake: wrap each, never run them together.
    detail = [part for line in result.detail.splitlines() for part in textwrap.wrap(line, TEXT_WIDTH)] or [""]
    rows = [f"{result.name:<{NAME_WIDTH}} {result.status.value:<{STATUS_WIDTH}} {detail[0]}"]
    rows += [indent + line for line in detail[1:]]
    if result.fix:
        rows += [indent + line for line in textwrap.wrap(f"fix: {result.fix}", TEXT_WIDTH)]
    return rows
