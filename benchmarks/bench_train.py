"""Train on each real data set in ../shared/datasets, evaluate on a held-out split (a measurement).

    .venv/bin/python benchmarks/bench_train.py [--root /work/shared/datasets] [--only casting kolektorsdd]

For each data set, our own held-out split (seeded), and two trainings: the old fixed settings (160 px,
every tap under every pooling, one view; good-only: global score, 100 channels) and the new automatic
choice.
Both use the same operating-point rule (models/operating_point.py). Prints one JSON object and a
Markdown table: accuracy at P(defect) >= 0.5, AUROC, escape and false reject at the card's threshold on
the held-out images, training seconds, per-crop latency (one thread, batch 1), peak memory so far.

The photos are licensed (see the data sets' README): they are only linked into a temporary folder,
never copied, and the models trained on them are written there and deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench_model import per_image_ms

from models.dataset import IMAGE_SUFFIXES
from models.evaluate import evaluate_model
from models.good_only import train_good_only
from models.selection import DEFAULT_COLUMN_SET
from models.trainer import DEFAULT_SIZE, train


@dataclass(frozen=True)
class Spec:
    folder: str
    ok_class: str
    good_only: bool = False
    n_train: int | None = None  # None: TRAIN_FRACTION of each class
    test_max: int | None = None  # bounds eval time on the large casting set


DATASETS = {
    "casting": Spec("casting/train", "ok_front", n_train=2000, test_max=1500),
    "kolektorsdd": Spec("kolektorsdd", "good"),
    "bsdata": Spec("bsdata", "good"),
    "mvtec_screw": Spec("mvtec_screw", "good", good_only=True),  # MVTec's own split (README)
}
TRAIN_FRACTION = 0.7


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _link(files: list[Path], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        os.symlink(f, dest / f.name)


def link_split(src: Path, train_dir: Path, test_dir: Path, spec: Spec, seed: int) -> dict[str, int]:
    """Symlink a stratified training sample of src/<class>/* into train_dir, held-out images into test_dir."""
    classes = {c.name: _images(c) for c in sorted(src.iterdir()) if c.is_dir()}
    total = sum(len(v) for v in classes.values())
    rng = np.random.default_rng(seed)
    counts = {}
    for name, files in classes.items():
        order = [files[j] for j in rng.permutation(len(files))]
        k = round(spec.n_train * len(files) / total) if spec.n_train else round(TRAIN_FRACTION * len(files))
        held = order[k:] if spec.test_max is None else order[k:][:round(spec.test_max * len(files) / total)]
        _link(order[:k], train_dir / name)
        _link(held, test_dir / name)
        counts[name] = k
    return counts


def link_mvtec(src: Path, train_dir: Path, test_dir: Path, spec: Spec, seed: int) -> dict[str, int]:
    """MVTec AD protocol: train on train_good_* only; test on test_good_* and test_defect_*."""
    good = _images(src / "good")
    train_good = [p for p in good if p.name.startswith("train_good_")]
    _link(train_good, train_dir / spec.ok_class)
    _link([p for p in good if p.name.startswith("test_good_")], test_dir / spec.ok_class)
    _link(_images(src / "defect"), test_dir / "defect")
    return {spec.ok_class: len(train_good)}


def _trainers(spec: Spec) -> dict[str, Callable[[Path, Path], dict]]:
    """The old fixed settings and the automatic choice, as train(data, out) callables."""
    if spec.good_only:
        return {"old": lambda d, o: train_good_only(d, o, spec.ok_class, progress=False),
                "auto": lambda d, o: train_good_only(d, o, spec.ok_class, progress=False, auto=True)}
    return {"old": lambda d, o: train(d, o, spec.ok_class, size=DEFAULT_SIZE, features=DEFAULT_COLUMN_SET,
                                      test_time_views=False, progress=False),
            "auto": lambda d, o: train(d, o, spec.ok_class, progress=False)}


def _row(name: str, setting: str, summary: dict, held_out: dict, train_s: float, model: Path) -> dict:
    t = summary["training"]
    chosen = {**(t.get("selection") or t.get("auto_choice") or {}),
              **({"views": 4} if t.get("test_time_views", {}).get("used") else {})}
    return {
        "dataset": name, "setting": setting, "n_train": sum(t["counts"].values()),
        "n_test": held_out["n"],
        "chosen": {k: chosen[k] for k in ("height_width", "size", "features", "taps", "score_source", "views")
                   if k in chosen},
        "accuracy_at_0_5": held_out["at_0_5"]["accuracy"], "auroc": held_out["auroc"],
        "threshold": held_out["threshold"], "escape_at_card": held_out["escape_rate"],
        "false_reject_at_card": held_out["false_reject_rate"], "accuracy_at_card": held_out["accuracy"],
        "train_seconds": round(train_s, 1),
        "latency_ms_per_crop": per_image_ms(model, batch=1, threads=1, seconds=1.0)["per_image_ms"],
        "peak_rss_mib_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "train_verdict": summary["validation"]["readiness"]["verdict"],
    }


def bench(name: str, spec: Spec, root: Path, seed: int, settings: list[str]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        train_dir, test_dir = Path(tmp, "train"), Path(tmp, "test")
        (link_mvtec if spec.good_only else link_split)(root / spec.folder, train_dir, test_dir, spec, seed)
        for setting, fit in _trainers(spec).items():
            if setting not in settings:
                continue
            model = Path(tmp, f"{setting}.onnx")
            started = time.perf_counter()
            summary = fit(train_dir, model)
            train_s = time.perf_counter() - started
            held_out = evaluate_model(model, test_dir, progress=False)
            rows.append(_row(name, setting, summary, held_out, train_s, model))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _fmt(value: float | None, pct: bool = True) -> str:
    return "n/a" if value is None else (f"{100 * value:.2f} %" if pct else f"{value:.4f}")


def table(rows: list[dict]) -> str:
    lines = ["| data set | setting | chosen | n train / test | acc @0.5 | AUROC | escape @card | "
             "false reject @card | acc @card | train s | ms / crop | peak MiB | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        chosen = ", ".join(f"{k} {v}" for k, v in r["chosen"].items()) or "-"
        figures = [_fmt(r["accuracy_at_0_5"]), _fmt(r["auroc"], False), _fmt(r["escape_at_card"]),
                   _fmt(r["false_reject_at_card"]), _fmt(r["accuracy_at_card"])]
        lines.append(f"| {r['dataset']} | {r['setting']} | {chosen} | {r['n_train']} / {r['n_test']} | "
                     + " | ".join(figures) + f" | {r['train_seconds']} | {r['latency_ms_per_crop']} | "
                     f"{r['peak_rss_mib_so_far']} | {r['train_verdict']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--only", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--settings", nargs="+", choices=["old", "auto"], default=["old", "auto"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for name in args.only:
        if not (args.root / DATASETS[name].folder).is_dir():
            print(json.dumps({"dataset": name, "skipped": f"{args.root / DATASETS[name].folder} not found"}))
            continue
        rows += bench(name, DATASETS[name], args.root, args.seed, args.settings)
    print(json.dumps({"cpu_count": os.cpu_count(), "rows": rows}, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
