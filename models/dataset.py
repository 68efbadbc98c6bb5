"""Labelled image folders: find the classes and files, check they can train a model.

A dataset is class-per-folder, like torchvision's ImageFolder: DATA_DIR/<class>/*.png|jpg|... One level
of nesting is also read, because the simulator writes `ok/` beside `ng/<defect>/`: a top-level folder
that holds no images but sub-folders with images contributes one class per sub-folder (named by the
sub-folder). The ok class always gets index 0, the defect classes follow in name order.

Errors here are `DatasetError(ValueError)` with a message that says what to fix; the CLI turns them
into `edge.errors.DataError` (models never imports edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
# Below this many images a class cannot give each of the trainer's 5 folds one image.
MIN_IMAGES_PER_CLASS = 5


class DatasetError(ValueError):
    """A dataset folder cannot be used as given; the message names the folder and the fix."""


@dataclass
class Dataset:
    """Image paths with integer labels; `class_names[0]` is the ok class."""

    root: Path
    class_names: list[str]
    paths: list[Path]
    labels: np.ndarray
    unreadable: list[Path] = field(default_factory=list)

    @property
    def ok_class(self) -> str:
        return self.class_names[0]

    def counts(self) -> dict[str, int]:
        return {name: int((self.labels == i).sum()) for i, name in enumerate(self.class_names)}

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(self.root, self.class_names, [self.paths[i] for i in index], self.labels[index])


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_folders(root: Path) -> dict[str, Path]:
    classes: dict[str, Path] = {}
    for top in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _images_in(top):
            found = {top.name: top}
        else:
            found = {sub.name: sub for sub in sorted(top.iterdir()) if sub.is_dir() and _images_in(sub)}
        for name, folder in found.items():
            if name in classes:
                raise DatasetError(f"class {name!r} appears twice in {root}: {classes[name]} and {folder}; "
                                   "rename one of the folders")
            classes[name] = folder
    return classes


def scan(root: str | Path, ok_class: str = "ok", min_classes: int = 2) -> Dataset:
    """List the classes and images under `root`, with `ok_class` first; DatasetError if unusable.

    `min_classes=1` accepts a folder of good parts only (good-only training, models/good_only.py).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; give a folder of class sub-folders")
    folders = _class_folders(root)
    if not folders:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DatasetError(f"{root} holds no class folders with images ({suffixes}); "
                           f"expected {root}/{ok_class}/*.png and {root}/<defect>/*.png")
    if ok_class not in folders:
        raise DatasetError(f"{root} has no ok class folder {ok_class!r} (found: {', '.join(folders)}); "
                           "name the good class with --ok-class")
    if len(folders) < min_classes:
        raise DatasetError(f"{root} holds a single class ({ok_class!r}); "
                           "add at least one defect class folder")
    class_names = [ok_class, *sorted(n for n in folders if n != ok_class)]
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(class_names):
        images = _images_in(folders[name])
        paths += images
        labels += [index] * len(images)
    return Dataset(root, class_names, paths, np.array(labels, dtype=np.int64))


def check_counts(data: Dataset, minimum: int = MIN_IMAGES_PER_CLASS) -> None:
    """DatasetError naming every class with fewer than `minimum` readable images."""
    short = {name: n for name, n in data.counts().items() if n < minimum}
    if short:
        listed = ", ".join(f"{name}: {n}" for name, n in short.items())
        skipped = f" after skipping {len(data.unreadable)} unreadable file(s)" if data.unreadable else ""
        raise DatasetError(f"too few images in {data.root}{skipped} ({listed}); each class needs at least "
                           f"{minimum}, add images")


Size = int | tuple[int, int]  # a square side, or (height, width) in pixels


def height_width(size: Size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _decode(path: Path) -> np.ndarray | None:
    """BGR uint8 image as stored, or None if unreadable."""
    # imdecode over a byte buffer: cv2.imread cannot open non-ASCII paths on every platform.
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    return cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None


def load_image(path: Path, size: Size) -> np.ndarray | None:
    """BGR uint8 image resized to `size` with INTER_AREA (as the runtime does), or None if unreadable."""
    image = _decode(path)
    if image is None:
        return None
    height, width = height_width(size)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def median_aspect(paths: list[Path], sample: int = 40) -> float:
    """Median height / width of up to `sample` evenly spaced images (1.0 if none can be read)."""
    images = (_decode(p) for p in paths[:: max(1, len(paths) // sample)][:sample])
    ratios = [image.shape[0] / image.shape[1] for image in images if image is not None]
    return float(np.median(ratios)) if ratios else 1.0
