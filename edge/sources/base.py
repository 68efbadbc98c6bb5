"""The contract every frame source keeps, so the capture loop never needs to know which one it has."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edge.errors import MoldPilotError


class SourceError(MoldPilotError):
    """The source cannot be opened as configured (missing file, no such camera, missing extra)."""


class SourceLost(Exception):
    """A live source stopped delivering (camera unplugged, stream dropped); reconnecting may help."""


class FrameSource(Protocol):
    """A blocking reader of BGR images.

    `open()` raises SourceError when the source cannot work as configured. `read()` returns the next
    image (H x W x 3 uint8 BGR), or None at the real end of a finite source (file, folder); a live
    source that fails raises SourceLost. `is_live` says whether frames keep coming on their own
    (camera, stream) or are pulled on demand (file, folder, simulator), which decides whether
    frames can be dropped at all.
    """

    name: str
    is_live: bool
    fps: float | None

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...
