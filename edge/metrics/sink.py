"""Metrics sink: every verdict into the station's tally (edge/metrics/tally.py), on its own sink thread.

Counting here rather than on the inference thread keeps inference free of it; under overload the fan-out
may drop verdicts for this sink, and those drops are themselves exposed (moldpilot_sink_dropped_total
{sink="metrics"}), so the counts never lie silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.metrics.tally import Tally
from edge.verdict import Verdict


class MetricsSink:
    wants_evidence = False

    def __init__(self, tally: Tally, name: str = "metrics") -> None:
        self.name = name
        self.tally = tally

    def open(self) -> None:
        pass  # nothing to open: the HTTP endpoint belongs to edge/metrics/station.py

    def write(self, verdicts: Sequence[Verdict]) -> None:
        self.tally.observe(verdicts)

    def close(self) -> None:
        pass
