"""The new default model against the old one: accuracy on fresh recordings, parts per CPU-second.

    .venv/bin/python benchmarks/bench_default.py [--old OLD.onnx] [--new NEW.onnx] [--seeds 777002-777009]
                                                [--shots 100] [--rounds 3]

Accuracy: for each seed a fresh 100-shot recording (`moldpilot sim footage --shots 100 --seed N`), judged by
`moldpilot replay FILE --model M` with each model; per recording the accuracy of every cavity, escapes and
false rejects, and how many parts' verdicts the two models disagree on. Seeds 777002 and up were never
used to train or calibrate either model (models/default/build_default.py, finish_default.py).

Cost: `moldpilot replay --every-frame --speed max` of one fresh recording (seed 4344) with each model, in
interleaved rounds; CPU-seconds of the whole replay process (start-up included) from its rusage, so
other load on the machine moves them little; the headline is the median over rounds of the per-round
ratio new / old of parts per CPU-second. Default OLD: sim_parts_v2 as commit cf41c81 shipped it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from contenders import replay_run, run_child

from edge.commands.replay_cmd import default_model
from sim.footage import FootageSettings, write_footage

ROOT = Path(__file__).resolve().parents[1]
OLD_DEFAULT = ("cf41c81", "models/default/sim_parts_v2.onnx")  # the last commit that shipped it
COST_SEED = 4344


def old_model(tmp: Path) -> Path:
    commit, path = OLD_DEFAULT
    out = tmp / "sim_parts_v2.onnx"
    out.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], capture_output=True,
                                   check=True).stdout)
    return out


def judged(model: Path, footage: Path, report: Path) -> tuple[dict[str, Any], dict[tuple, str]]:
    """Triggered replay of `footage`: its summary and {(shot, cavity): decision}."""
    run = run_child([sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "replay", str(footage),
                     "--json", "--model", str(model), "--report", str(report)])
    if run["rc"] != 0:
        raise RuntimeError(f"replay failed: {run['stderr']}")
    summary = json.loads(run["stdout"].strip().splitlines()[-1])
    with (report / "verdicts.jsonl").open(encoding="utf-8") as lines:
        decisions = {(v["shot"], v["cavity"]): v["decision"] for v in map(json.loads, lines)}
    return summary, decisions


def recording(folder: Path, seed: int, shots: int) -> Path:
    """`folder`/f{seed}-{shots}.avi, written unless it is already there (--footage-dir keeps them)."""
    footage = folder / f"f{seed}-{shots}.avi"
    if not footage.exists() or not footage.with_name(footage.name + ".timeline.json").exists():
        write_footage(footage, FootageSettings(shots=shots, seed=seed))
    return footage


def accuracy_row(seed: int, shots: int, models: dict[str, Path], tmp: Path,
                 footage_dir: Path) -> dict[str, Any]:
    footage = recording(footage_dir, seed, shots)
    row: dict[str, Any] = {"seed": seed}
    decisions = {}
    for name, model in models.items():
        summary, decisions[name] = judged(model, footage, tmp / f"r{seed}{name}")
        ng, ok = summary["ng_parts"], summary["ok_parts"]
        row[name] = {"accuracy": summary["accuracy"],
                     "per_cavity": {c: s["accuracy"] for c, s in summary["per_cavity"].items()},
                     "escapes": round(summary["escape_rate"] * ng) if ng else 0, "defective": ng,
                     "false_rejects": round(summary["false_reject_rate"] * ok) if ok else 0, "good": ok}
    old, new = decisions.values()
    row["changed_verdicts"] = sum(old[k] != new.get(k) for k in old)
    print(json.dumps(row), flush=True)
    return row


def cost_rounds(models: dict[str, Path], shots: int, rounds: int, tmp: Path,
                footage_dir: Path) -> dict[str, Any]:
    footage = recording(footage_dir, COST_SEED, shots)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in models}
    for index in range(rounds):
        order = list(models) if index % 2 == 0 else list(models)[::-1]
        for name in order:
            run = replay_run(models[name], footage, tmp / f"cost{index}{name}")
            run.pop("flags")
            runs[name].append(run)
            print(f"round {index + 1} {name}: " + json.dumps(run), flush=True)
    old, new = models
    ratios = [n["parts_per_cpu_s"] / o["parts_per_cpu_s"] for o, n in zip(runs[old], runs[new], strict=True)]
    return {"runs": runs, "ratio_rounds": [round(r, 3) for r in ratios],
            "parts_per_cpu_s_ratio": round(statistics.median(ratios), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="default: sim_parts_v2 from git history")
    parser.add_argument("--new", type=Path, default=default_model(),
                        help="default: the shipped default")
    parser.add_argument("--seeds", default="777002-777009", help="first-last")
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cost-shots", type=int, default=50, help="shots of the cost recording (default 50)")
    parser.add_argument("--footage-dir", type=Path, help="keep / reuse the recordings (default: a temp dir)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    first, last = (int(s) for s in args.seeds.split("-"))
    with tempfile.TemporaryDirectory(prefix="moldpilot-default-") as tmp:
        models = {"old": args.old or old_model(Path(tmp)), "new": args.new}
        footage_dir = args.footage_dir or Path(tmp)
        footage_dir.mkdir(parents=True, exist_ok=True)
        result: dict[str, Any] = {"old": str(models["old"]), "new": str(models["new"])}
        if not args.skip_accuracy:
            result["recordings"] = [accuracy_row(s, args.shots, models, Path(tmp), footage_dir)
                                   for s in range(first, last + 1)]
        if not args.skip_cost:
            result["cost"] = cost_rounds(models, args.cost_shots, args.rounds, Path(tmp), footage_dir)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
