"""Inference time of one model in bare onnxruntime: batch 1, and per image at each batch size.

    .venv/bin/python benchmarks/bench_model.py [--model M.onnx (default: the shipped model)]

Bare means the graph alone on pre-made uint8 crops (pre-processing is inside the graph): no decoding,
no cropping, no threads of ours. Batch 1 is what a triggered station pays per crop; the best batch is
what replay and free-run can reach. Each size is run with one intra-op thread (one camera, one core)
and with every core. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from edge.commands.replay_cmd import default_model
from models.card import read_card
from models.features import session

DEFAULT_MODEL = default_model()
BATCHES = (1, 2, 4, 8, 16, 32)
WARM_RUNS = 5


def per_image_ms(model: Path, batch: int, threads: int, seconds: float = 2.0) -> dict[str, float]:
    """Median and p95 time of one run of `batch` random crops, and the median per image, in ms."""
    card = read_card(model)
    height, width = card.input.height_width
    sess = session(model, threads)
    images = np.random.default_rng(0).integers(0, 256, (batch, height, width, card.input.channels), np.uint8)
    for _ in range(WARM_RUNS):
        sess.run(None, {card.input.name: images})
    times_ms: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times_ms) < 20:
        start = time.perf_counter()
        sess.run(None, {card.input.name: images})
        times_ms.append((time.perf_counter() - start) * 1000.0)
    median = statistics.median(times_ms)
    return {"batch": batch, "median_ms": round(median, 2),
            "p95_ms": round(sorted(times_ms)[int(0.95 * len(times_ms))], 2),
            "per_image_ms": round(median / batch, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per batch size")
    args = parser.parse_args()
    result: dict[str, object] = {"model": str(args.model), "cpu_count": os.cpu_count(),
                                 "bytes": args.model.stat().st_size}
    for label, threads in (("one_thread", 1), ("all_threads", 0)):
        rows = [per_image_ms(args.model, b, threads, args.seconds) for b in BATCHES]
        best = min(rows, key=lambda r: r["per_image_ms"])
        result[label] = {"batch_1_ms": rows[0]["median_ms"], "batch_1_p95_ms": rows[0]["p95_ms"],
                         "best_batch": best["batch"], "best_per_image_ms": best["per_image_ms"],
                         "images_per_s_at_best": round(1000.0 / best["per_image_ms"], 1), "sweep": rows}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
