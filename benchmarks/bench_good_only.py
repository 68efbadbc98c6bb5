"""Good-only model on real casting photos: trained on ok_front alone, AUROC on a held-out split of both.

    .venv/bin/python benchmarks/bench_good_only.py [--data /work/shared/datasets/casting/train]
        [--n-train 4000] [--keep /tmp/casting_good.onnx]
    .venv/bin/python benchmarks/bench_good_only.py --sim [--count 1000 --sim-seed 777123] [--model M.onnx]
    .venv/bin/python benchmarks/bench_good_only.py --sim --mold 1 [--count 1000 --sim-seed 777123]
    .venv/bin/python benchmarks/bench_good_only.py --footage 777201 777202 [--footage-shots 200]
        [--train-shots 150]

--sim measures the shipped simulator model (models/default_good_only, or --model) on fresh crops: AUROC and
the share of defective crops with severity > 0.5 whose heatmap peak (cell centre) lies inside the
defect's ground-truth bbox (labels.csv bbox_xywh). Those crops draw a new mold for every crop.

--sim --mold N is what a shop does: for each shape, `moldpilot train --mode good-only` on good crops of
mold N alone (no defect image: the threshold is the good-score quantile), then `moldpilot eval` on fresh
crops of the same mold, half of them defective.

--footage SEED... is the same on the line's own pictures: per seed, --footage-shots (200) shots of
4-cavity simulator footage (one mold, FOOTAGE_DEFECT_RATE of the parts defective); `moldpilot crops`
cuts the parts of the first --train-shots (150) and only the good ones are kept (no defect image),
`moldpilot train --mode good-only` learns from them, and `moldpilot eval` scores the crops of the
remaining shots, never seen.

The photos are licensed BY-NC-ND: they are only linked into a temporary folder (bench_train.link_split),
never copied; the model is written there too (or to --keep, outside the repository). The training
folder holds both classes: the Gaussians see only ok_front, the def_front images there only calibrate
the threshold (models/good_only.py); the held-out folder is never seen. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_model import per_image_ms
from bench_train import link_split

from edge.crops import write_crops
from models.card import sidecar_path
from models.evaluate import auroc, evaluate_model
from models.features import run_images, session
from models.good_only import train_good_only
from sim.dataset import read_labels, write_dataset
from sim.footage import FootageSettings, write_footage
from sim.parts import SHAPES

SIM_MODEL = Path(__file__).resolve().parents[1] / "models" / "default_good_only" / "sim_parts_good_v3.onnx"
SIM_SIZE = 160
MOLD_TRAIN = 800  # good crops per mold and shape
MOLD_CHANNELS = 112  # one mold needs no design subspace; the README's per-mold figures use these
MOLD_TRAIN_SEED = 20260708
FOOTAGE_SHOTS, FOOTAGE_TRAIN_SHOTS = 200, 150  # defaults of --footage-shots, --train-shots
FOOTAGE_DEFECT_RATE = 0.3  # ~60 defective parts among the 200 held out


def sim_default(count: int, seed: int, model: Path = SIM_MODEL) -> dict:
    """AUROC and heatmap-peak-in-bbox rate of the shipped (or another) good-only simulator model on fresh
    crops."""
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(Path(tmp), count, seed)
        rows = read_labels(Path(tmp))
        sess = session(model)
        paths = [Path(tmp) / r.file for r in rows]
        heat, _ = run_images(sess, paths, SIM_SIZE, output="heatmap", progress=False)
        score, _ = run_images(sess, paths, SIM_SIZE, output="anomaly_score", progress=False)
    defective = np.array([r.label != "ok" for r in rows])
    cell = SIM_SIZE / heat.shape[-1]
    hits = []
    for row, peak_map in zip(rows, heat[0], strict=True):
        if row.label == "ok" or row.severity <= 0.5 or not row.bbox_xywh:
            continue
        y, x = np.unravel_index(peak_map.argmax(), peak_map.shape)
        bx, by, bw, bh = row.bbox_xywh
        hits.append(bx <= (x + 0.5) * cell <= bx + bw and by <= (y + 0.5) * cell <= by + bh)
    by_defect = {}
    for name in sorted({r.defect for r in rows if r.defect}):
        keep = np.array([r.defect == name for r in rows]) | ~defective
        by_defect[name] = round(auroc(defective[keep], score[0][keep]), 4)
    by_shape = {}
    for name in SHAPES:
        keep = np.array([r.shape == name for r in rows])
        by_shape[name] = round(auroc(defective[keep], score[0][keep]), 4)
    return {"model": str(model), "count": count, "seed": seed, "auroc": auroc(defective, score[0]),
            "auroc_by_defect": by_defect, "auroc_by_shape": by_shape,
            "peak_in_bbox_severity_over_0_5": float(np.mean(hits)),
            "n_peak_checked": len(hits), "model_bytes": model.stat().st_size}


def sim_per_mold(mold: int, count: int, seed: int) -> dict:
    """Per shape: a good-only model trained on MOLD_TRAIN good crops of `mold`, scored on fresh crops."""
    result = {"mold": mold, "train_good_crops": MOLD_TRAIN, "count": count, "seed": seed}
    for shape in SHAPES:
        with tempfile.TemporaryDirectory() as tmp:
            train_dir, test_dir, model = Path(tmp, "train"), Path(tmp, "test"), Path(tmp, "mold.onnx")
            write_dataset(train_dir, MOLD_TRAIN, MOLD_TRAIN_SEED, SIM_SIZE, 0.0, shape, mold=mold)
            summary = train_good_only(train_dir, model, n_channels=MOLD_CHANNELS, score_source="local",
                                      progress=False)
            write_dataset(test_dir, count, seed, SIM_SIZE, 0.5, shape, mold=mold)
            held_out = evaluate_model(model, test_dir, progress=False)
        figures = ("n_ok", "n_defective", "auroc", "accuracy", "escape_rate", "false_reject_rate")
        result[shape] = {"threshold_rule": summary["validation"]["threshold_rule"],
                         **{k: held_out[k] for k in figures}}
    return result


def footage_per_mold(seed: int, shots: int = FOOTAGE_SHOTS, train_shots: int = FOOTAGE_TRAIN_SHOTS) -> dict:
    """Good-only model from the good crops of the first `train_shots` shots of one recording of `shots`,
    scored on the crops of the rest."""
    with tempfile.TemporaryDirectory() as tmp:
        footage, model = Path(tmp, "line.avi"), Path(tmp, "mold.onnx")
        settings = FootageSettings(shots, seed, defect_rate=FOOTAGE_DEFECT_RATE)
        timeline = write_footage(footage, settings)
        train_dir, test_dir = Path(tmp, "train"), Path(tmp, "test")
        write_crops(footage, timeline, train_dir, shots=(1, train_shots))
        for path in train_dir.iterdir():  # only the good parts are kept for training
            if path.is_dir() and path.name != "ok":
                shutil.rmtree(path)
            elif path.is_file():
                path.unlink()  # labels.csv
        summary = train_good_only(train_dir, model, n_channels=MOLD_CHANNELS, score_source="local",
                                  progress=False)
        write_crops(footage, timeline, test_dir, shots=(train_shots + 1, shots))
        held_out = evaluate_model(model, test_dir, progress=False)
    figures = ("n_ok", "n_defective", "auroc", "accuracy", "escape_rate", "false_reject_rate")
    good_crops = summary["training"]["n_train_ok"] + summary["validation"]["n"]  # Gaussians + threshold
    return {"seed": seed, "shape": timeline.shape, "shots": shots, "train_shots": train_shots,
            "train_good_crops": good_crops, "threshold_rule": summary["validation"]["threshold_rule"],
            **{k: held_out[k] for k in figures}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/datasets/casting/train"))
    parser.add_argument("--ok-class", default="ok_front")
    parser.add_argument("--n-train", type=int, default=4000,
                        help="images (both classes) in the training folder")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="copy the trained model (+ card) here (not into the repo)")
    parser.add_argument("--sim", action="store_true", help="measure the shipped simulator model instead")
    parser.add_argument("--count", type=int, default=1000, help="fresh simulator crops (--sim)")
    parser.add_argument("--sim-seed", type=int, default=777123, help="fresh simulator seed (--sim)")
    parser.add_argument("--model", type=Path, default=SIM_MODEL, help="good-only model to measure (--sim)")
    parser.add_argument("--mold", type=int, help="simulator: train and score one mold per shape")
    parser.add_argument("--footage", type=int, nargs="+", metavar="SEED",
                        help="simulator footage: train on crops of the first shots, score the rest")
    parser.add_argument("--footage-shots", type=int, default=FOOTAGE_SHOTS, help="shots per recording")
    parser.add_argument("--train-shots", type=int, default=FOOTAGE_TRAIN_SHOTS,
                        help="the first shots, whose good crops train (--footage)")
    args = parser.parse_args()
    if args.footage:
        results = [footage_per_mold(seed, args.footage_shots, args.train_shots) for seed in args.footage]
        print(json.dumps(results, indent=2))
        return
    if args.mold is not None:
        print(json.dumps(sim_per_mold(args.mold, args.count, args.sim_seed), indent=2))
        return
    if args.sim:
        print(json.dumps(sim_default(args.count, args.sim_seed, args.model), indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        train_dir, test_dir, model = Path(tmp, "train"), Path(tmp, "test"), Path(tmp, "casting_good.onnx")
        counts = link_split(args.data, train_dir, test_dir, args.n_train, args.seed)
        t0 = time.perf_counter()
        summary = train_good_only(train_dir, model, ok_class=args.ok_class, seed=args.seed, size=args.size)
        train_s = time.perf_counter() - t0
        held_out = evaluate_model(model, test_dir, progress=False)
        training = summary["training"]
        result = {
            "train_folder": counts,
            "gaussians_fitted_on": training["n_train_ok"],
            "train_seconds": round(train_s, 1),
            "validation": {k: summary["validation"][k]
                           for k in ("n", "auroc", "accuracy", "escape_rate", "false_reject_rate",
                                     "onnx_vs_numpy_max_abs")},
            "threshold_rule": summary["validation"]["threshold_rule"],
            "held_out": {k: held_out[k] for k in ("n", "n_ok", "n_defective", "auroc", "accuracy",
                                                  "escape_rate", "false_reject_rate")},
            "latency_1_image_1_thread": per_image_ms(model, batch=1, threads=1),
            "model_bytes": model.stat().st_size,
            "parameter_bytes": training["parameter_bytes"],
            "train_embedding_bytes": training["train_embedding_bytes"],
        }
        if args.keep:
            shutil.copy(model, args.keep)
            shutil.copy(sidecar_path(model), sidecar_path(args.keep))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
