"""Dataset generation speed: crops per second by crop size and defect rate, one process, one core.

    .venv/bin/python benchmarks/bench_dataset.py [--count 200] [--json]

Measures `write_dataset` end to end (render + PNG encode + write) and `render_item` alone, so the
cost of the disk and the encoder is visible. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2

from sim.dataset import render_item, write_dataset

CASES = [(160, 0.0), (160, 0.5), (160, 1.0), (96, 0.5), (224, 0.5)]


def measure(count: int, size_px: int, defect_rate: float) -> dict[str, float]:
    start = time.perf_counter()
    for index in range(count):
        render_item(0, index, size_px, defect_rate)
    render_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_dataset(Path(tmp) / "ds", count, seed=0, size_px=size_px, defect_rate=defect_rate)
        write_s = time.perf_counter() - start
    return {
        "size_px": size_px,
        "defect_rate": defect_rate,
        "count": count,
        "render_img_per_s": round(count / render_s, 1),
        "dataset_img_per_s": round(count / write_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="crops per case (default 200)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core, as on a shared edge PC
    rows = [measure(args.count, size, rate) for size, rate in CASES]
    if args.json:
        print(json.dumps({"cpu_count": os.cpu_count(), "opencv": cv2.__version__, "results": rows}, indent=1))
        return
    row = "{:>8} {:>11} {:>13} {:>14}"
    print(row.format("size px", "defect rate", "render img/s", "dataset img/s"))
    for r in rows:
        print(row.format(r["size_px"], r["defect_rate"], r["render_img_per_s"], r["dataset_img_per_s"]))


if __name__ == "__main__":
    main()
