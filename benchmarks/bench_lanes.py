"""How replay spreads the model over the cores: crops per model call and lanes, side by side.

    .venv/bin/python benchmarks/bench_lanes.py [--model M] [--shots 50] [--rounds 3]

The figures behind the constants of edge/pipeline/build.py (LANE_CROPS, MICRO_BATCH_CROPS and
`replay_lanes`): each variant is `moldpilot replay --every-frame --speed max` on the same fresh 4-cavity
footage in its own child process, the variants interleaved round by round, best of the rounds. Prints
frames/s and peak RSS per variant and each variant's frames/s as a ratio of the shipped settings'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from edge.commands.replay_cmd import default_model
from sim.footage import FootageSettings, write_footage

# (label, LANE_CROPS, MICRO_BATCH_CROPS, model.threads): threads 0 = one lane per core, else one lane.
VARIANTS = [
    ("shipped: a lane per core, 1 crop a call", 1, 4, 0),
    ("a lane per core, 2 crops a call", 2, 4, 0),
    ("a lane per core, 4 crops a call", 4, 4, 0),
    ("one lane on every core, 4 crops a call", 1, 4, -1),
    ("one lane on every core, 8 crops a call", 1, 8, -1),
]

# A replay with the two constants set, printing its own peak RSS (kB) as its last stderr line.
CHILD = """
import resource, sys
import edge.pipeline.build as build
build.LANE_CROPS, build.MICRO_BATCH_CROPS = int(sys.argv[1]), int(sys.argv[2])
from edge.cli import main
code = main(sys.argv[3:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_variant(footage: Path, model: Path, lane_crops: int, micro_batch: int, threads: int,
                workdir: Path) -> dict[str, float]:
    """One replay in a fresh child: frames/s (model load excluded) and that child's peak RSS."""
    args = ["--log-level", "WARNING", "replay", str(footage), "--every-frame", "--speed", "max", "--json",
            "--model", str(model)]
    if threads:
        cores = len(os.sched_getaffinity(0))
        config = workdir / f"threads{threads}.yaml"
        config.write_text(f"station: {{site: b, line: b, name: b}}\nsource: {{kind: file, uri: {footage}, "
                          f"mode: replay}}\nmodel: {{path: {model}, threads: {cores}}}\n", encoding="utf-8")
        args += ["--config", str(config)]
    done = subprocess.run([sys.executable, "-c", CHILD, str(lane_crops), str(micro_batch), *args],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"replay failed: {done.stderr.strip()[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return {"fps": summary["fps"], "peak_rss_mb": round(peak_kb / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX model (default: the shipped one)")
    parser.add_argument("--shots", type=int, default=50, help="footage length in shots (20 frames each)")
    parser.add_argument("--rounds", type=int, default=3, help="each variant's best of N")
    args = parser.parse_args()
    model = args.model or default_model()
    with tempfile.TemporaryDirectory(prefix="moldpilot-lanes-") as tmp:
        footage = Path(tmp) / "bench.avi"
        write_footage(footage, FootageSettings(shots=args.shots, seed=4242, cavities=4))
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in VARIANTS}
        for _ in range(args.rounds):
            for label, lane_crops, micro_batch, threads in VARIANTS:
                runs[label].append(run_variant(footage, model, lane_crops, micro_batch, threads, Path(tmp)))
    best = {label: max(r["fps"] for r in rs) for label, rs in runs.items()}
    shipped = best[VARIANTS[0][0]]
    print(f"{'variant':45} {'frames/s':>9} {'x shipped':>9} {'peak RSS MB':>12}")
    for label, rs in runs.items():
        peak = max(r["peak_rss_mb"] for r in rs)
        print(f"{label:45} {best[label]:9.2f} {best[label] / shipped:9.3f} {peak:12.1f}")


if __name__ == "__main__":
    main()
