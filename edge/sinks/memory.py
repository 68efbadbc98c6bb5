"""In-memory sink: keeps every verdict, for replay scoring and tests. Read after close().

Verdicts are kept without their evidence (pixels), so memory grows by a few hundred bytes per part;
the evidence of the first `evidence_limit` NG / NO_DECISION parts is kept apart, for a report gallery.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

from edge.verdict import Decision, Evidence, Verdict


class MemorySink:
    def __init__(self, name: str = "memory", evidence_limit: int = 0) -> None:
        self.name = name
        self.evidence_limit = evidence_limit
        self.wants_evidence = evidence_limit > 0
        self._verdicts: list[Verdict] = []
        self._evidence: list[tuple[Verdict, Evidence]] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        pass

    def write(self, verdicts: Sequence[Verdict]) -> None:
        with self._lock:
            for verdict in verdicts:
                bare = dataclasses.replace(verdict, evidence=None) if verdict.evidence else verdict
                self._verdicts.append(bare)
                # OK parts may carry evidence too (the review queue's sample): not for this gallery
                if verdict.evidence is not None and verdict.decision is not Decision.OK \
                        and len(self._evidence) < self.evidence_limit:
                    self._evidence.append((bare, verdict.evidence))

    def close(self) -> None:
        pass

    @property
    def verdicts(self) -> list[Verdict]:
        """A copy of what was received so far, in arrival order."""
        with self._lock:
            return list(self._verdicts)

    @property
    def evidence(self) -> list[tuple[Verdict, Evidence]]:
        with self._lock:
            return list(self._evidence)
