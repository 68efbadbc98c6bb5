"""The contract every frame source keeps, so the capture loop never needs to know which one it has."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edge.errors import MoldPilotError


class SourceError(MoldPilotError):
    """The source cannot be opened as configured (missing file, no such camera, missing extra)."""


class SourceNotReady(SourceError):
    """A live device that is not there or not answering yet (camera off or booting, cable out): unlike
    a wrong setting, waiting for it may help."""


class SourceLost(Exception):
    """A live source stopped delivering (camera unplugged, stream dropped); reconnecting may help."""


class FrameSource(Protocol):
    """A blocking reader of BGR images.

    `open()` raises SourceError when the source cannot work as configured. `read()` returns the next
    image (H x W x 3 uint8 BGR), or None at the real end of a finite source (file, folder); a live
    source that fails raises SourceLost. `is_live` says whether frames keep coming on their own
    (camera, stream) or are pulled on demand (file, folder, simulator), which decides whether
    frames can be dropped at all.

    The array `read()` returns belongs to the caller: a later `read()` never writes into it, so it
    may sit in a queue or a batch. `frame_count` is the number of frames a finite source holds when
    known up front (a video container's count, a folder's images), None for live sources. Sources
    can be opened again after `close()` (the reconnect wrapper relies on it). One thread reads;
    `close()` is called by that thread, or by another once reading has stopped.
    """

    name: str
    is_live: bool
    fps: float | None
    frame_count: int | None

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...
