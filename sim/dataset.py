"""Datasets of single-part crops for training and validating a defect classifier.

Layout (class per folder, what torchvision's ImageFolder and most training scripts expect):

    DIR/ok/000000.png, DIR/<defect>/000001.png, ...   one crop per item, file name = item index
    DIR/labels.csv                                     file,label,defect,severity,bbox_xywh,shape

A crop is exactly what the footage shows in one cavity ROI: the renderer's output for one nest cell.
Item i depends only on (seed, i), so the same seed always gives the same bytes, and a prefix of a
larger dataset equals the smaller dataset.

By default every crop is a new mold: design (teeth, holes, pins, ears...) and resin colour are drawn per
crop, the hardest case for a model. With `mold` set, every crop of a shape comes from the same mold, as
on a line (and in the footage): the design of each shape and the colour are drawn from the mold number
alone, so two datasets with the same mold and different seeds show the same product. This is how a shop
trains a good-only model: on good parts of its own mold.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from sim.parts import ALL_SHAPES, Shape, sample_design
from sim.render import render_crop
from sim.shot import sample_color, sample_lighting, sample_part, sample_shape

LABELS_FILE = "labels.csv"
LABEL_COLUMNS = ("file", "label", "defect", "severity", "bbox_xywh", "shape")
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1]  # fixed: the encoder is deterministic for fixed params


@dataclass(frozen=True)
class LabelRow:
    """One line of labels.csv. `file` is relative to the dataset folder; bbox_xywh in crop pixels."""

    file: str
    label: Literal["ok", "ng"]
    defect: str | None
    severity: float
    bbox_xywh: tuple[int, int, int, int] | None
    shape: Shape

    @property
    def class_name(self) -> str:
        """The folder name: "ok" or the defect."""
        return self.defect or "ok"


def render_item(
    seed: int,
    index: int,
    size_px: int = 160,
    defect_rate: float = 0.5,
    shape: Shape | Literal["mixed"] = "mixed",
    mold: int | None = None,
) -> tuple[np.ndarray, LabelRow]:
    """Item `index` of the dataset with `seed`: the uint8 BGR crop and its label row (`mold`: see above)."""
    rng = np.random.default_rng([seed, index])
    part_shape = sample_shape(rng, shape)
    # Drawn even with a mold, so pose, lighting and defect of item i do not depend on `mold`.
    design, color = sample_design(part_shape, rng), sample_color(rng, part_shape)
    if mold is not None:
        mold_rng = np.random.default_rng([mold, ALL_SHAPES.index(part_shape)])
        design = sample_design(part_shape, mold_rng)
        color = sample_color(np.random.default_rng([mold]), part_shape)
    spec = sample_part(rng, design, size_px, color, sample_lighting(rng), defect_rate)
    image, bbox = render_crop(spec, scene_seed=int(rng.integers(2**63)))
    label: Literal["ok", "ng"] = "ng" if spec.defect else "ok"
    row = LabelRow(
        f"{spec.defect or 'ok'}/{index:06d}.png", label, spec.defect, spec.severity, bbox, part_shape
    )
    return image, row


def write_dataset(
    out_dir: Path,
    count: int,
    seed: int,
    size_px: int = 160,
    defect_rate: float = 0.5,
    shape: Shape | Literal["mixed"] = "mixed",
    progress: Callable[[int], None] | None = None,
    mold: int | None = None,
) -> Counter[str]:
    """Write `count` crops and labels.csv into `out_dir` (new or empty). Returns images per class.

    `progress(n)` is called after each image with n = 1, for a progress bar.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if size_px < 32:
        raise ValueError(f"size_px must be >= 32, got {size_px}")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError(f"defect_rate must be in [0, 1], got {defect_rate}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        # Old files would sit next to the new ones without a row in labels.csv.
        raise FileExistsError(f"{out_dir} is not empty; write the dataset to a new or empty folder")
    rows: list[LabelRow] = []
    for index in range(count):
        image, row = render_item(seed, index, size_px, defect_rate, shape, mold)
        path = out_dir / row.file
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", image, PNG_PARAMS)
        if not ok:
            raise RuntimeError(f"PNG encoding failed for {path}")
        path.write_bytes(png.tobytes())
        rows.append(row)
        if progress:
            progress(1)
    write_labels(out_dir, rows)
    return Counter(r.class_name for r in rows)


def write_labels(dataset_dir: Path, rows: list[LabelRow], append: bool = False) -> None:
    """labels.csv of `rows`; `append` adds them to an existing file (its header is kept)."""
    path = Path(dataset_dir) / LABELS_FILE
    adding = append and path.is_file()
    with open(path, "a" if adding else "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if not adding:
            writer.writerow(LABEL_COLUMNS)
        for r in rows:
            bbox = " ".join(map(str, r.bbox_xywh)) if r.bbox_xywh else ""
            writer.writerow([r.file, r.label, r.defect or "", f"{r.severity:.3f}", bbox, r.shape])


def read_labels(dataset_dir: Path) -> list[LabelRow]:
    """labels.csv of a dataset written by write_dataset, in file order."""
    with open(Path(dataset_dir) / LABELS_FILE, newline="", encoding="utf-8") as f:
        return [
            LabelRow(
                file=rec["file"],
                label="ng" if rec["label"] == "ng" else "ok",
                defect=rec["defect"] or None,
                severity=float(rec["severity"]),
                bbox_xywh=tuple(int(v) for v in rec["bbox_xywh"].split()) or None,  # type: ignore[arg-type]
                shape=rec["shape"],  # type: ignore[arg-type]
            )
            for rec in csv.DictReader(f)
        ]
