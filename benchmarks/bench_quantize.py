"""FP32 vs INT8 (moldpilot quantize): single-image latency on this CPU and the change in accuracy / AUROC.

    .venv/bin/python benchmarks/bench_quantize.py [--model M.onnx --calib DIR [--val DIR]]

Without --model it trains a supervised model on simulator crops (`moldpilot sim dataset --count 400
--seed 31`) in a temporary folder and calibrates on them; validation is a fresh simulator seed. Latency
is bench_model.per_image_ms: one uint8 image, one thread, median and p95 over 2 s. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench_model import per_image_ms

from models.quantize import quantize_model
from models.trainer import train
from sim.dataset import write_dataset

SIM_TRAIN_SEED, SIM_VAL_SEED = 31, 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="FP32 model (default: train one on simulator crops)")
    parser.add_argument("--calib", type=Path, help="folder with the good class to calibrate on")
    parser.add_argument("--val", type=Path, help="labelled validation folder (default: held out of --calib)")
    parser.add_argument("--count", type=int, default=400, help="simulator crops when training (default 400)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model, calib, val = args.model, args.calib, args.val
        if model is None:
            calib, val, model = Path(tmp, "train"), Path(tmp, "val"), Path(tmp, "sim.onnx")
            write_dataset(calib, args.count, SIM_TRAIN_SEED)
            write_dataset(val, args.count, SIM_VAL_SEED)
            train(calib, model, progress=False, threads=2)
        int8 = Path(tmp, "int8.onnx")
        summary = quantize_model(model, calib, int8, val, force=True)
        fp32_ms, int8_ms = per_image_ms(model, 1, 1), per_image_ms(int8, 1, 1)
        result = {
            "model": str(args.model or f"supervised on sim --count {args.count} --seed {SIM_TRAIN_SEED}"),
            "figure": summary["figure"],
            "fp32": summary["fp32"],
            "int8": summary["int8"],
            "drop": summary["drop"],
            "verdict_agreement": summary["verdict_agreement"],
            "latency_fp32_1_thread": fp32_ms,
            "latency_int8_1_thread": int8_ms,
            "speed_up_median": round(fp32_ms["median_ms"] / int8_ms["median_ms"], 2),
            "bytes_fp32": model.stat().st_size,
            "bytes_int8": int8.stat().st_size,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
