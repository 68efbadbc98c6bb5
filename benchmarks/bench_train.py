"""Train on N real casting photos, evaluate on the rest, time it (a measurement, not a test).

    .venv/bin/python benchmarks/bench_train.py [--data /work/shared/datasets/casting/train] [--n-train 2000]

The photos (ok_front / def_front) are licensed BY-NC-ND: they are only linked into a temporary folder,
never copied, and the model trained on them is written to that temporary folder and deleted.
Prints one JSON object: training seconds, held-out metrics, single-image inference latency.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_model import per_image_ms

from models.dataset import IMAGE_SUFFIXES
from models.evaluate import evaluate_model
from models.trainer import train


def link_split(src: Path, train_dir: Path, test_dir: Path, n_train: int, seed: int) -> dict[str, int]:
    """Symlink a stratified `n_train` sample of src/<class>/* into train_dir, the rest into test_dir."""
    classes = {
        c.name: sorted(p for p in c.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for c in sorted(src.iterdir())
        if c.is_dir()
    }
    total = sum(len(v) for v in classes.values())
    rng = np.random.default_rng(seed)
    counts = {}
    for name, files in classes.items():
        order = rng.permutation(len(files))
        k = round(n_train * len(files) / total)
        counts[name] = k
        for i, j in enumerate(order):
            dest = (train_dir if i < k else test_dir) / name
            dest.mkdir(parents=True, exist_ok=True)
            os.symlink(files[j], dest / files[j].name)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/datasets/casting/train"))
    parser.add_argument("--ok-class", default="ok_front")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        train_dir, test_dir, model = Path(tmp, "train"), Path(tmp, "test"), Path(tmp, "casting.onnx")
        counts = link_split(args.data, train_dir, test_dir, args.n_train, args.seed)
        t0 = time.perf_counter()
        summary = train(train_dir, model, ok_class=args.ok_class, seed=args.seed, size=args.size)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        held_out = evaluate_model(model, test_dir, progress=True)
        eval_s = time.perf_counter() - t0
        result = {
            "n_train": sum(counts.values()),
            "train_counts": counts,
            "size": args.size,
            "train_seconds": round(train_s, 1),
            "cpu_count": os.cpu_count(),
            "validation": {k: summary["validation"][k] for k in ("n", "accuracy", "escape_rate", "auroc")},
            "threshold": summary["threshold"],
            "threshold_note": summary["validation"]["threshold_note"],
            "held_out": {
                k: held_out[k]
                for k in (
                    "n",
                    "accuracy",
                    "escape_rate",
                    "false_reject_rate",
                    "class_accuracy",
                    "auroc",
                    "confusion",
                )
            },
            "eval_seconds": round(eval_s, 1),
            "latency_1_image_1_thread": per_image_ms(model, batch=1, threads=1),
            "model_bytes": model.stat().st_size,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
