"""The demo's live status line on stderr: rewritten in place on a terminal, a plain line every few
seconds otherwise (a log file or CI must not fill with carriage returns)."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

LINE_EVERY_S = 5.0  # not a terminal: one line this often


class StatusLine:
    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self._next_line_s = 0.0
        self._width = 0

    def show(self, shots: int, total_shots: int, decisions: Mapping[str, int],
             ng_by_cavity: Mapping[int, int], latencies_ms: Sequence[float], final: bool = False) -> None:
        if not self.enabled:
            return
        now_s = time.monotonic()
        if not self.tty and not final and now_s < self._next_line_s:
            return
        self._next_line_s = now_s + LINE_EVERY_S
        text = self.format(shots, total_shots, decisions, ng_by_cavity, latencies_ms)
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width) + ("\n" if final else ""))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    @staticmethod
    def format(shots: int, total_shots: int, decisions: Mapping[str, int], ng_by_cavity: Mapping[int, int],
               latencies_ms: Sequence[float]) -> str:
        parts = sum(decisions.values())
        by_cavity = " ".join(f"c{c}:{n}" for c, n in sorted(ng_by_cavity.items())) or "-"
        latency = (f"PLC latency p50 {statistics.median(latencies_ms):.0f} ms, max {max(latencies_ms):.0f} ms"
                   if latencies_ms else "PLC latency -")
        return (f"shot {shots}/{total_shots}  parts {parts}  NG {decisions.get('NG', 0)}  "
                f"NO_DECISION {decisions.get('NO_DECISION', 0)}  NG by cavity {by_cavity}  {latency}")
