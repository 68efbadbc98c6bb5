"""Every verdict's time, cavity and decision, kept for the panel's NG-rate chart (a sink: it runs on
its own thread behind the fan-out's bounded queue, never on an inference thread)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from edge.verdict import Decision, Verdict

HISTORY_PARTS = 200_000  # about a 12 h shift of 4-cavity shots at 1 s; older parts fall off


class VerdictHistory:
    name = "console"
    wants_evidence = False

    def __init__(self, max_parts: int = HISTORY_PARTS) -> None:
        self._parts: deque[tuple[float, int, Decision]] = deque(maxlen=max_parts)
        self._lock = threading.Lock()  # the console's and this sink's only: the pipeline never takes it

    def open(self) -> None:
        pass

    def write(self, verdicts: Sequence[Verdict]) -> None:
        with self._lock:
            self._parts.extend((v.t_wall_s, v.cavity, v.decision) for v in verdicts)

    def close(self) -> None:
        pass

    def ng_rates(self, window_s: float, bins: int,
                 now_s: float | None = None) -> dict[int, list[float | None]]:
        """Per cavity, the NG share of its parts in each of `bins` equal slices of the last `window_s`
        seconds, oldest first; None for a slice without parts."""
        now_s = time.time() if now_s is None else now_s
        start_s, width_s = now_s - window_s, window_s / bins
        with self._lock:
            recent = [p for p in self._parts if p[0] >= start_s]
        counts: dict[int, list[list[int]]] = {}
        for t_s, cavity, decision in recent:
            slot = min(bins - 1, int((t_s - start_s) / width_s))
            per = counts.setdefault(cavity, [[0, 0] for _ in range(bins)])
            per[slot][0] += decision is Decision.NG
            per[slot][1] += 1
        return {cavity: [ng / n if n else None for ng, n in per] for cavity, per in sorted(counts.items())}

    def totals(self, window_s: float, now_s: float | None = None) -> dict[int, tuple[int, int]]:
        """Per cavity, (NG parts, parts) in the last `window_s` seconds."""
        now_s = time.time() if now_s is None else now_s
        out: dict[int, tuple[int, int]] = {}
        with self._lock:
            recent = [p for p in self._parts if p[0] >= now_s - window_s]
        for _, cavity, decision in recent:
            ng, n = out.get(cavity, (0, 0))
            out[cavity] = (ng + (decision is Decision.NG), n + 1)
        return dict(sorted(out.items()))
