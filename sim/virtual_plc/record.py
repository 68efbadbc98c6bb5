"""What the virtual PLC sends (one `ShotPlan` per mold shot) and what it records (`ShotRecord`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sim.timeline import Timeline


@dataclass(frozen=True, slots=True)
class ShotPlan:
    shot: int
    part_id: int  # the shot's first part id: one trigger per shot, cavities come back as a mask


@dataclass(frozen=True, slots=True)
class ShotRecord:
    """One shot's answer as the PLC saw it. `latency_ms`: trigger sent -> result visible to the PLC."""

    shot: int
    part_id: int
    seq: int
    echo_part_id: int | None  # None: no result arrived within the timeout
    verdict_code: int
    defect_class_code: int
    score_milli: int
    error_code: int
    cavity_ng_mask: int
    latency_ms: float

    @property
    def arrived(self) -> bool:
        return self.echo_part_id is not None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def plan_from_timeline(path: str | Path) -> list[ShotPlan]:
    """One trigger per shot of a footage timeline: FILE.timeline.json, or the video FILE next to it."""
    path = Path(path)
    if not path.name.endswith(".timeline.json"):
        path = Path(f"{path}.timeline.json")
    timeline = Timeline.from_json(json.loads(path.read_text(encoding="utf-8")))
    return [ShotPlan(s.shot, s.part_ids[0]) for s in timeline.shots]


def synthetic_plan(shots: int, first_part_id: int = 1000) -> Sequence[ShotPlan]:
    """Shots without footage (tests, benchmarks): part ids count up from `first_part_id`."""
    return [ShotPlan(i + 1, first_part_id + i) for i in range(shots)]
