"""`moldpilot sim ...`: simulator verbs (filled in by the sim work)."""

from __future__ import annotations

import argparse


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("sim", help="simulated mold line: datasets, footage")
    parser.add_subparsers(dest="sim_verb", metavar="SIM_VERB", required=True)
