"""Counters and per-stage latency samples of one pipeline run, for status, metrics and reports.

Written by the inference thread (and, for a rejected trigger, by the submitting thread) under one lock;
anyone may call `snapshot()`. Latency samples are kept in a bounded window per stage (the most recent
`window` verdicts), so a station running for months holds a fixed amount of memory.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

from edge.percentiles import percentiles
from edge.verdict import STAGES, Decision, ErrorCode, Verdict


class Stats:
    def __init__(self, window: int = 50_000) -> None:
        self._lock = threading.Lock()
        self.frames_judged = 0
        self.triggers = 0
        self.batches = 0
        self.crops_inferred = 0
        self.by_decision: Counter[str] = Counter()
        self.by_error: Counter[str] = Counter()
        self._latency_ms: dict[str, deque[float]] = {stage: deque(maxlen=window) for stage in STAGES}
        # Trigger-to-verdict minus model time: the pipeline's own overhead (issue 4 target: p99 <= 5 ms).
        self._overhead_ms: deque[float] = deque(maxlen=window)

    def record_batch(self, n_crops: int) -> None:
        with self._lock:
            self.batches += 1
            self.crops_inferred += n_crops

    def record(self, verdicts: Sequence[Verdict], had_frame: bool, is_trigger: bool) -> None:
        """The verdicts of one job (one trigger or one free-run frame)."""
        with self._lock:
            self.frames_judged += had_frame
            self.triggers += is_trigger
            for v in verdicts:
                self.by_decision[v.decision.name] += 1
                if v.error_code is not ErrorCode.NONE:
                    self.by_error[v.error_code.name] += 1
            # Timings are per job (shared by its cavities): sample them once per job.
            timings = verdicts[0].timings_ms if verdicts else {}
            for stage, ms in timings.items():
                if stage in self._latency_ms:
                    self._latency_ms[stage].append(ms)
            if "total" in timings:
                self._overhead_ms.append(timings["total"] - timings.get("infer", 0.0))

    def snapshot(self) -> dict[str, Any]:
        # `record` takes this lock on the inference thread's hand-over, so it is held only to copy (the
        # deques at C speed); the percentiles are computed after it is released.
        with self._lock:
            samples = {stage: tuple(values) for stage, values in self._latency_ms.items()}
            samples["total_minus_infer"] = tuple(self._overhead_ms)
            counts = {
                "frames_judged": self.frames_judged,
                "triggers": self.triggers,
                "verdicts": {d.name: self.by_decision[d.name] for d in Decision},
                "errors": {e.name: self.by_error[e.name] for e in ErrorCode if e is not ErrorCode.NONE},
                "deadline_misses": self.by_error[ErrorCode.DEADLINE_MISSED.name],
                "batches": self.batches,
                "mean_batch": round(self.crops_inferred / self.batches, 2) if self.batches else 0.0,
            }
        return {**counts, "latency_ms": {stage: percentiles(values) for stage, values in samples.items()}}
