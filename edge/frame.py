"""The unit that travels from a source to the model: one camera image and what is known about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(slots=True)
class Frame:
    """One image from a source.

    `image` is H x W x 3 uint8 BGR (as OpenCV delivers it). `frame_id` is the index in the source
    (0-based, counting every frame the source produced, dropped or not). `t_capture` is
    `time.monotonic()` when the frame left the source. `part_id` and `shot` are known when a trigger
    (PLC or timeline) names them; `meta` carries anything else (file name, timeline ground truth).
    """

    image: np.ndarray
    frame_id: int
    t_capture: float
    part_id: int | None = None
    shot: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                "Frame.image must be H x W x 3 uint8 BGR, "
                f"got shape {self.image.shape} dtype {self.image.dtype}"
            )
