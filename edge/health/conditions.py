"""The conditions the health watch reports, their HEALTH bits (HR 114) and the result of one check.

Bits follow DESIGN.md HR 114 and are append-only: b0 CAMERA_LOST, b1 CAMERA_MOVED, b2 BLOCKED,
b3 BLURRED, b4 LIGHTING, b5 SCORE_DRIFT, and b6 MOLD_CHANGED, appended by issue 20 (a different mold or
part in the fixture). A PLC program that knows only b0-b5 reads the register as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum


class Condition(IntEnum):
    """One thing that can be wrong with the camera or the model; the value is its bit in HR 114."""

    CAMERA_LOST = 0
    CAMERA_MOVED = 1
    BLOCKED = 2
    BLURRED = 3
    LIGHTING = 4
    SCORE_DRIFT = 5
    MOLD_CHANGED = 6  # appended by issue 20

    @property
    def bit(self) -> int:
        return 1 << int(self)


def health_bits(conditions: Iterable[Condition]) -> int:
    """The HR 114 value with the bit of each of `conditions` set."""
    value = 0
    for condition in conditions:
        value |= condition.bit
    return value


@dataclass(frozen=True)
class CheckResult:
    """What one check saw on one sample. `figure` and `bound` are in the unit `measure` names, and every
    check is phrased so that a larger figure is worse: `active` means figure > bound on this sample (the
    watch's hysteresis decides when that becomes a raised condition). `details` holds the other figures
    behind it (e.g. shift_px and angle_deg behind a corner shift), for the console and the logs."""

    condition: Condition
    measure: str
    figure: float
    bound: float
    details: Mapping[str, float] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.figure > self.bound

    @classmethod
    def worst(
        cls, condition: Condition, measures: Mapping[str, tuple[float, float]], details: Mapping[str, float]
    ) -> CheckResult:
        """The result of a check with several figures: the one closest to (or furthest past) its bound.
        `measures` maps a measure name to (figure, bound)."""
        name, (figure, bound) = max(measures.items(), key=lambda item: item[1][0] / item[1][1])
        return cls(condition, name, figure, bound, details)
