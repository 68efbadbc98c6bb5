"""The simulated line as a source: footage frames rendered on demand, no camera and no video file.

The frames are those `moldpilot sim footage` would write with the same settings, before MJPG
compression. The uri is the seed ("7") or comma-separated settings ("seed=7,shots=20,cavities=2");
`plan.timeline(name)` gives the shots, part ids and ground truth the frames show, for a scorer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.sources.base import SourceError
from sim.footage import FootagePlan, FootageSettings
from sim.parts import ALL_SHAPES

log = logging.getLogger(__name__)

DEFAULT_SHOTS = 100
SETTING_TYPES: dict[str, Callable[[str], Any]] = {
    "seed": int,
    "shots": int,
    "cavities": int,
    "fps": float,
    "cycle_s": float,
    "shape": str,
    "defect_rate": float,
}


def parse_uri(uri: str) -> FootageSettings:
    """'7' or 'seed=7,shots=20,...' -> FootageSettings; any mistake is a SourceError naming the fix."""
    text = uri.strip()
    items = [f"seed={text}"] if text.isdigit() else [item for item in text.split(",") if item.strip()]
    values: dict[str, Any] = {"shots": DEFAULT_SHOTS}
    for item in items:
        key, _, value = (part.strip() for part in item.partition("="))
        if key not in SETTING_TYPES:
            raise SourceError(
                f"sim source uri {uri!r}: unknown setting {key!r}; use a seed ('7') or "
                f"key=value pairs from {', '.join(SETTING_TYPES)}"
            )
        try:
            values[key] = SETTING_TYPES[key](value)
        except ValueError:
            raise SourceError(f"sim source uri {uri!r}: {key}={value!r} is not a valid value") from None
    if values.get("shape", "mixed") not in (*ALL_SHAPES, "mixed"):
        raise SourceError(f"sim source uri {uri!r}: shape must be one of {', '.join(ALL_SHAPES)} or mixed")
    if "seed" not in values:
        raise SourceError(f"sim source uri {uri!r}: the seed is missing, e.g. 'seed=7,shots=20'")
    try:
        return FootageSettings(**values)
    except ValueError as exc:
        raise SourceError(f"sim source uri {uri!r}: {exc}") from None


class SimSource:
    """Footage frames of the simulated line, in order; None after the last shot."""

    is_live = False

    def __init__(self, uri: str) -> None:
        self.settings = parse_uri(uri)
        self.name = f"sim seed {self.settings.seed}"
        self.fps: float | None = self.settings.fps
        self.frame_count: int | None = None
        self.frames_read = 0
        self.plan: FootagePlan | None = None

    def open(self) -> None:
        self.plan = FootagePlan(self.settings)
        self.frame_count = self.plan.frame_count
        self.frames_read = 0
        log.info("%s opened: %d shots, %d frames", self.name, self.settings.shots, self.frame_count)

    def read(self) -> np.ndarray | None:
        if self.plan is None:
            raise RuntimeError(f"{self.name}: read() before open()")
        if self.frames_read >= self.plan.frame_count:
            return None
        image = self.plan.frame(self.frames_read)
        self.frames_read += 1
        return image

    def close(self) -> None:
        """Nothing to release; `plan` stays readable for scoring the run."""
