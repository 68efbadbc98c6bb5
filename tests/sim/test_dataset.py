"""Datasets: class-per-folder PNG crops + labels.csv, byte-identical for the same seed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from sim.dataset import read_labels, render_item, write_dataset
from sim.defects import DEFECT_NAMES


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_dataset(tmp_path / "a", count=12, seed=5, size_px=96)
    write_dataset(tmp_path / "b", count=12, seed=5, size_px=96)
    write_dataset(tmp_path / "c", count=12, seed=6, size_px=96)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_layout_labels_and_every_defect_class(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    per_class = write_dataset(out, count=40, seed=1, size_px=96, defect_rate=0.9)
    rows = read_labels(out)
    assert [r.file for r in rows] == [f"{r.class_name}/{i:06d}.png" for i, r in enumerate(rows)]
    assert set(per_class) == {"ok", *DEFECT_NAMES}
    assert sum(per_class.values()) == 40
    for row in rows:
        image = cv2.imread(str(out / row.file))
        assert image.shape == (96, 96, 3)
        if row.label == "ok":
            assert row.defect is None and row.bbox_xywh is None and row.severity == 0.0
        else:
            assert row.defect in DEFECT_NAMES and 0.15 <= row.severity <= 1.0
            x, y, w, h = row.bbox_xywh
            assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 96 and y + h <= 96
    # The PNG holds exactly the rendered pixels (lossless), so training sees what the renderer made.
    image, row = render_item(seed=1, index=7, size_px=96, defect_rate=0.9)
    assert row == rows[7]
    assert (cv2.imread(str(out / row.file)) == image).all()


def test_an_item_does_not_depend_on_the_dataset_size(tmp_path: Path) -> None:
    write_dataset(tmp_path / "small", count=3, seed=9, size_px=64)
    write_dataset(tmp_path / "large", count=6, seed=9, size_px=64)
    small, large = digest(tmp_path / "small"), digest(tmp_path / "large")
    assert all(large[name] == sha for name, sha in small.items() if name != "labels.csv")


def test_single_shape_and_refusals(tmp_path: Path) -> None:
    write_dataset(tmp_path / "gears", count=5, seed=2, size_px=64, shape="gear")
    assert {r.shape for r in read_labels(tmp_path / "gears")} == {"gear"}
    with pytest.raises(FileExistsError, match="not empty"):
        write_dataset(tmp_path / "gears", count=5, seed=2, size_px=64)
    with pytest.raises(ValueError, match="count"):
        write_dataset(tmp_path / "none", count=0, seed=2)


def _part_hues(mold: int | None, seed: int) -> list[float]:
    """Median hue of each good gear crop's saturated (resin) pixels; -1 for a white or grey part."""
    hues = []
    for index in range(8):
        image, _ = render_item(seed, index, 96, 0.0, "gear", mold)
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        resin = hsv[..., 1] > 80
        hues.append(float(np.median(hsv[..., 0][resin])) if resin.sum() > 50 else -1.0)
    return hues


def test_one_mold_gives_one_resin_colour_across_seeds_and_keeps_each_items_defect() -> None:
    one_mold = _part_hues(1, seed=4) + _part_hues(1, seed=5)
    assert min(one_mold) > 0 and max(one_mold) - min(one_mold) <= 2
    assert max(_part_hues(None, seed=4)) - min(_part_hues(None, seed=4)) > 20  # a new colour per crop
    for index in range(20):
        _, free = render_item(6, index, 64, 0.5, "mixed")
        _, molded = render_item(6, index, 64, 0.5, "mixed", mold=2)
        assert (free.defect, free.severity, free.shape) == (molded.defect, molded.severity, molded.shape)
