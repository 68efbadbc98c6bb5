"""What the virtual PLC sends (one `ShotPlan` per mold shot) and what it records (`ShotRecord`)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sim.timeline import read_timeline


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
    timeline = read_timeline(path)
    return [ShotPlan(s.shot, s.part_ids[0]) for s in timeline.shots]


def synthetic_plan(shots: int, first_part_id: int = 1000) -> Sequence[ShotPlan]:
    """Shots without footage (tests, benchmarks): part ids count up from `first_part_id`."""
    return [ShotPlan(i + 1, first_part_id + i) for i in range(shots)]


def plc_summary(records: Sequence[ShotRecord]) -> dict[str, object]:
    """What the PLC saw over a run: shots, answers, echo mismatches, verdict counts, latency."""
    arrived = [r for r in records if r.arrived]
    latencies = sorted(r.latency_ms for r in arrived)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else latencies * 99
    return {
        "shots": len(records),
        "arrived": len(arrived),
        "echo_mismatches": sum(r.echo_part_id != r.part_id for r in arrived),
        "verdicts": {code: sum(r.verdict_code == code for r in arrived) for code in (1, 2, 3)},
        "latency_ms_p50": round(quantiles[49], 2) if quantiles else None,
        "latency_ms_p99": round(quantiles[98], 2) if quantiles else None,
    }
