"""Counts of verdicts by decision, defect and cavity, and per-stage latency histograms.

Fed by the metrics sink (edge/metrics/sink.py) on its own thread; read by whoever renders the station's
figures (the Prometheus collector on the HTTP thread, the MQTT status on the MQTT sink's thread), so
every access goes through one lock. Histograms keep cumulative bucket counts, as Prometheus does: a
station running for months holds a fixed amount of memory.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from edge.verdict import STAGES, Decision, Verdict

# Stages take 0.1 ms (judge) to a few hundred ms (a slow model on a small CPU); the deadline is
# typically 500 ms, so the buckets are dense below it and stop at 2 s.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class Tally:
    def __init__(self, buckets_s: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        self.buckets_s = tuple(buckets_s)
        self._lock = threading.Lock()
        self._verdicts: Counter[tuple[str, int]] = Counter()  # (decision, cavity)
        self._defects: Counter[tuple[str, int]] = Counter()  # (defect, cavity), NG verdicts only
        # Per stage: counts per bucket (the last one is +Inf, not cumulative yet), count, sum.
        self._bucket_counts = {stage: [0] * (len(self.buckets_s) + 1) for stage in STAGES}
        self._sum_s = dict.fromkeys(STAGES, 0.0)

    def observe(self, verdicts: Sequence[Verdict]) -> None:
        """The verdicts of one job (one trigger or one free-run frame), one per cavity."""
        with self._lock:
            for v in verdicts:
                self._verdicts[v.decision.name, v.cavity] += 1
                if v.decision is Decision.NG and v.defect:
                    self._defects[v.defect, v.cavity] += 1
            # Timings are per job, shared by its cavities: one sample per job (as edge/pipeline/stats.py).
            for stage, ms in (verdicts[0].timings_ms.items() if verdicts else ()):
                if stage in self._bucket_counts:
                    seconds = ms / 1000.0
                    self._bucket_counts[stage][bisect.bisect_left(self.buckets_s, seconds)] += 1
                    self._sum_s[stage] += seconds

    def snapshot(self) -> dict[str, Any]:
        """{"verdicts": {decision: {cavity: n}}, "defects": {defect: {cavity: n}},
        "latency": {"buckets_s": [...], "stages": {stage: {"count", "sum_s", "cumulative"}}}};
        cavities are strings, as JSON keys must be. `cumulative` has one count per bucket plus +Inf."""
        with self._lock:
            verdicts, defects = dict(self._verdicts), dict(self._defects)
            stages = {stage: (list(counts), self._sum_s[stage])
                      for stage, counts in self._bucket_counts.items()}
        return {
            "verdicts": _nest(verdicts),
            "defects": _nest(defects),
            "latency": {
                "buckets_s": list(self.buckets_s),
                "stages": {stage: {"count": sum(counts), "sum_s": round(sum_s, 6),
                                   "cumulative": list(itertools.accumulate(counts))}
                           for stage, (counts, sum_s) in stages.items()},
            },
        }


def _nest(counts: dict[tuple[str, int], int]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (label, cavity), n in sorted(counts.items()):
        nested.setdefault(label, {})[str(cavity)] = n
    return nested

