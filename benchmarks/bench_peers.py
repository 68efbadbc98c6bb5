"""MoldPilot's replay beside the pipelines a user would otherwise build, on the same footage and model.

    .venv/bin/python benchmarks/bench_peers.py [--model M.onnx] [--shots 100] [--rounds 3] [--install]

Contenders, each a fresh child process per round, in interleaved rounds (every contender once per
round, the order rotated each round), so a busy spell of the shared machine hits all of them alike:

- `moldpilot`: `moldpilot replay FOOTAGE --every-frame --speed max` (edge/replay.py), its settings;
- `naive`, `supervision`, `roboflow`: benchmarks/peers/peer_loop.py in the peer's own venv under
  --venvs (default var/peer-venvs/<peer>; `--install` creates the missing ones with pip, as
  PEER_INSTALLS says). A peer whose venv is absent is skipped with one line that says how to add it;
- `ceiling`: bare onnxruntime on pre-cut crops, one crop per run, one one-thread lane per core
  (edge/bench/stages.py `bare_fps`, the compute ceiling C of `moldpilot bench`).

Every contender gets the same model (default: the shipped default) and the same fresh footage (seed
4343, never used to train). Each peer's verdicts are checked against replay's part by part. Reported
per contender, median over the rounds: frames/s (steady state), start-up to the first verdict, peak RSS,
CPU-seconds per 1,000 parts; and the ratios replay / best peer and replay / ceiling. `uptime` load and
the other processes' cores are kept with every run: on a shared machine, trust the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from contenders import peer_run, replay_run

from edge.bench.stages import bare_fps, fresh
from edge.commands.replay_cmd import default_model
from sim.footage import FootageSettings, write_footage

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED = 4343
CEILING_S = 8.0
PEER_INSTALLS = {  # pip arguments of each peer's venv, with the project's onnxruntime pin
    "naive": ["onnxruntime==1.32.0", "opencv-python-headless", "numpy"],
    "supervision": ["supervision", "onnxruntime==1.32.0", "opencv-python-headless"],
    "roboflow": ["streamvision", "onnxruntime==1.32.0"],
}


def peer_pythons(venvs: Path, install: bool) -> dict[str, Path]:
    """The peers whose venv exists (created first with --install); one line for each one skipped."""
    found = {}
    for peer, packages in PEER_INSTALLS.items():
        python = venvs / peer / "bin" / "python"
        if not python.exists() and install:
            subprocess.run(["python3", "-m", "venv", str(venvs / peer)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
        if python.exists():
            found[peer] = python
        else:
            print(f"skipped peer {peer}: no venv at {venvs / peer} (create it with --install, or "
                  f"python3 -m venv {venvs / peer} && {python} -m pip install {' '.join(packages)})")
    return found


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def rounds_of(model: Path, footage: Path, rois: list, peers: dict[str, Path], rounds: int,
              tmp: Path) -> dict[str, list[dict[str, Any]]]:
    names = ["moldpilot", *peers, "ceiling"]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    cores = len(os.sched_getaffinity(0))
    for index in range(rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:
            if name == "moldpilot":
                run = replay_run(model, footage, tmp / f"replay{index}")
            elif name == "ceiling":
                fps = fresh(bare_fps, model, footage, rois, 1, CEILING_S, 1, cores)
                run = {"fps": round(fps, 2), "load_1min": os.getloadavg()[0]}
            else:
                run = peer_run(peers[name], name, model, footage)
            runs[name].append(run)
            shown = {k: v for k, v in run.items() if k != "flags"}
            print(f"round {index + 1} {name:12s} {json.dumps(shown)}", flush=True)
    return runs


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    reference = runs["moldpilot"][0]["flags"]
    table = {}
    for name, of_name in runs.items():
        keys = ("fps", "startup_s", "peak_rss_mb", "cpu_s_per_1000_parts", "parts_per_cpu_s", "other_cores",
                "load_1min")
        row = {key: _median(of_name, key) for key in keys}
        if name != "ceiling":
            row["same_verdicts"] = all(r["flags"] == reference for r in of_name)
            row["ng"] = of_name[0]["ng"]
            row["parts"] = of_name[0]["parts"]
        table[name] = row
    peers = [name for name in table if name not in ("moldpilot", "ceiling")]
    ours = table["moldpilot"]["fps"]
    best = max(peers, key=lambda n: table[n]["fps"] or 0.0) if peers else None
    return {"contenders": table, "best_peer": best,
            "replay_over_best_peer": round(ours / table[best]["fps"], 3) if best else None,
            "replay_over_ceiling": round(ours / table["ceiling"]["fps"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model())
    parser.add_argument("--shots", type=int, default=100, help="4-cavity shots of 20 frames (default 100)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venvs", type=Path, default=ROOT / "var" / "peer-venvs")
    parser.add_argument("--install", action="store_true", help="create the missing peer venvs with pip")
    args = parser.parse_args()
    peers = peer_pythons(args.venvs, args.install)
    with tempfile.TemporaryDirectory(prefix="moldpilot-peers-") as tmp:
        footage = Path(tmp, "footage.avi")
        timeline = write_footage(footage, FootageSettings(shots=args.shots, seed=DEFAULT_SEED))
        runs = rounds_of(args.model, footage, list(timeline.rois_xywh), peers, args.rounds, Path(tmp))
    result = {"model": str(args.model), "shots": args.shots, "rounds": args.rounds, **summarize(runs)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
