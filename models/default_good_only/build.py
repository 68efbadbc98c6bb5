"""Build the shipped good-only model, models/default_good_only/sim_parts_good_v1.onnx (+ .card.json).

    .venv/bin/python models/default_good_only/build.py [--out models/default_good_only/sim_parts_good_v1.onnx]

Kept out of models/default/ on purpose: replay takes the first .onnx there, which must stay the
supervised model. Deterministic like models/default/build_default.py: simulator crops from a fixed seed,
fixed split/channel/k-means seeds, a fixed onnxruntime thread count; with SOURCE_DATE_EPOCH set the
card's `created` is fixed too.

Data: TRAIN_COUNT crops of every shape at 160 px, DEFECT_RATE of them defective. The Gaussians see only
the good crops; the defective ones only calibrate the threshold (target escape rate). Settings, and why:
- score from the heatmap's peak (`score_source="local"`): simulator parts are aligned (pose jitter of
  +-8 deg, +-4 px is under a stride-8 cell at most radii) and their defects small, so the per-location
  distance beats the global one (models/padim.py);
- GROUPS k-means groups so caps, gears and housings each get their own Gaussians, the part being judged
  against the group it fits best;
- CHANNELS channels so that GROUPS x 400 locations x CHANNELS x (CHANNELS + 1) x 4 bytes plus the 2.2 MB
  backbone stays under the 25 MB budget.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import onnx

from models.card import read_card, save_model
from models.good_only import train_good_only
from models.trainer import DEFAULT_SIZE
from sim.dataset import write_dataset

HERE = Path(__file__).resolve().parent
NAME = "sim_parts_good_v1"
TRAIN_SEED = 20260707  # simulator seed of the training crops; never used for evaluation
SPLIT_SEED = 0
TRAIN_COUNT = 3000
DEFECT_RATE = 0.2  # ~600 defective crops calibrate the threshold; ~2,400 good crops train
TARGET_ESCAPE = 0.005
GROUPS = 3
CHANNELS = 64
THREADS = 2  # fixed: the reduction order, and so the last bits of the features, follow the thread count
MAX_BYTES = 25 * 2**20


def build(out: Path, progress: bool = True) -> dict:
    """Render the crops into a temporary folder, train, fix the card's provenance fields."""
    with tempfile.TemporaryDirectory(prefix="moldpilot-good-") as tmp:
        data = Path(tmp) / "sim_parts"
        counts = write_dataset(data, TRAIN_COUNT, TRAIN_SEED, DEFAULT_SIZE, DEFECT_RATE, "mixed")
        summary = train_good_only(data, out, target_escape=TARGET_ESCAPE, seed=SPLIT_SEED,
                                  n_channels=CHANNELS, n_groups=GROUPS, score_source="local",
                                  progress=progress, name=NAME, threads=THREADS)
    card = read_card(out)
    card.training["data"] = (f"moldpilot sim dataset --count {TRAIN_COUNT} --seed {TRAIN_SEED} --size "
                             f"{DEFAULT_SIZE} --defect-rate {DEFECT_RATE} --shape mixed "
                             f"({dict(sorted(counts.items()))}); built by models/default_good_only/build.py")
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        card.created = datetime.fromtimestamp(int(epoch), timezone.utc).isoformat(timespec="seconds")
    save_model(onnx.load(str(out)), card, out)
    if out.stat().st_size > MAX_BYTES:
        raise SystemExit(f"{out} is {out.stat().st_size / 2**20:.1f} MB, over the 25 MB budget")
    summary["sha256"] = card.sha256
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / f"{NAME}.onnx")
    args = parser.parse_args()
    summary = build(args.out)
    print(json.dumps({k: summary[k] for k in ("model", "seconds", "sha256", "validation")}, indent=2))


if __name__ == "__main__":
    main()
