"""A folder of images, read one per call in a fixed order.

Commissioning and tests map a trigger sequence to known images: in triggered mode each trigger calls
`read()` once, so trigger n gets the n-th image in sorted order. The order is the relative path
(subfolders included), compared as text, so `ng/flash/003.png` always comes at the same place on any
machine. `last_name` names the image just returned so a verdict can carry it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from edge.sources.base import SourceError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


class FolderSource:
    """Images under `folder`, sorted by relative path; None after the last one.

    A file that does not decode is skipped and logged once; its relative path is added to
    `unreadable` (len() of it is the count). `last_name` is the relative path (with '/') of the
    image the last `read()` returned, None before the first.
    """

    is_live = False
    fps: float | None = None

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.name = f"folder {self.folder.name}"
        self.frame_count: int | None = None
        self.last_name: str | None = None
        self.unreadable: list[str] = []
        self._names: list[str] = []
        self._next = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"image folder not found: {self.folder}; check source.uri")
        self._names = sorted(
            path.relative_to(self.folder).as_posix()
            for path in self.folder.rglob("*")
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
        )
        if not self._names:
            raise SourceError(
                f"no images in {self.folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, "
                "subfolders included)"
            )
        self.frame_count = len(self._names)
        self.last_name = None
        self.unreadable = []
        self._next = 0
        log.info("%s opened: %d images", self.name, self.frame_count)

    def read(self) -> np.ndarray | None:
        while self._next < len(self._names):
            name = self._names[self._next]
            self._next += 1
            # IMREAD_COLOR decodes mono, BGRA and 16-bit files straight to 8-bit BGR.
            image = cv2.imread(str(self.folder / name), cv2.IMREAD_COLOR)
            if image is None:
                self.unreadable.append(name)
                log.warning("%s: skipped %s, it does not decode as an image", self.name, name)
                continue
            self.last_name = name
            return image
        return None

    def close(self) -> None:
        self._names = []
        self._next = 0
