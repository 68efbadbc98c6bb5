"""The fail-safe gate between the health watch and the inference threads.

The health watch (its own thread) closes it while a condition that station.yaml `health.fail_safe`
names is raised; each inference thread reads it once per batch and, while it is closed, answers every
part NO_DECISION with ERROR_CODE 9 HEALTH_FAULT instead of judging pixels it cannot trust (a knocked
camera would otherwise give confident verdicts on the wrong pixels). One attribute, written by one
thread and read by others: no lock on the inference path.
"""

from __future__ import annotations


class FailSafeGate:
    def __init__(self) -> None:
        self.reason: str | None = None  # why parts are not judged now; None: open, parts are judged

    def close(self, reason: str) -> None:
        self.reason = reason

    def open(self) -> None:
        self.reason = None
