"""When a check's raw result becomes a raised condition, and when a raised one clears.

A condition is raised after `raise_after` consecutive active samples and cleared after `clear_after`
consecutive inactive ones, so one odd frame (a hand passing, an operator's shadow) neither raises nor
clears it. A sample a check could not judge (see edge.health.precedence) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Transition = Literal["new", "end"]


@dataclass
class Debounce:
    raise_after: int
    clear_after: int
    raised: bool = False
    _streak: int = 0  # consecutive samples that disagree with `raised`

    def __post_init__(self) -> None:
        if self.raise_after < 1 or self.clear_after < 1:
            raise ValueError(f"raise_after and clear_after must be >= 1, got {self.raise_after}, "
                             f"{self.clear_after}")

    def update(self, active: bool) -> Transition | None:
        """Feed one judged sample; returns "new" when this sample raises the condition, "end" when it
        clears it, None otherwise."""
        if active == self.raised:
            self._streak = 0
            return None
        self._streak += 1
        if self._streak < (self.clear_after if self.raised else self.raise_after):
            return None
        self.raised, self._streak = active, 0
        return "new" if active else "end"
