"""The pipeline against bare onnxruntime, decode alone and a naive loop (issue 4 item 8), one run.

    .venv/bin/python benchmarks/bench_pipeline.py [--model M] [--shots 50] [--rounds 3] [--json]

The same measurement as `moldpilot bench` (both call edge.bench.suite.run_suite); this module adds
nothing but the entry point `make bench` finds. `measure()` returns the result dict.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.bench.suite import DEFAULT_ROUNDS, DEFAULT_SHOTS, format_table, run_suite
from edge.commands.replay_cmd import default_model


def measure(model: Path | None = None, shots: int = DEFAULT_SHOTS,
            rounds: int = DEFAULT_ROUNDS) -> dict[str, Any]:
    """Run the whole benchmark on `model` (default: the shipped model); the result dict."""
    return run_suite(model or default_model(), shots=shots, rounds=rounds,
                     progress=lambda step: print(step, file=sys.stderr, flush=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX model (default: models/default/*.onnx)")
    parser.add_argument("--shots", type=int, default=DEFAULT_SHOTS, help="footage length in shots")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="each stage's best of N")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    result = measure(args.model, args.shots, args.rounds)
    print(json.dumps(result, indent=1) if args.json else format_table(result))


if __name__ == "__main__":
    main()
