"""What one doctor check reports: a name, a status, what it saw, and what to do about it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class Status(Enum):
    PASS = "PASS"
    WARN = "WARN"  # works, but deserves a look (e.g. the clock's sync state is unknown)
    FAIL = "FAIL"  # the station will not work as configured
    SKIP = "SKIP"  # not configured, or needs something another check found broken


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    fix: str = ""  # empty for PASS; what a controls engineer should do, concretely

    def to_dict(self) -> dict[str, str]:
        return {**asdict(self), "status": self.status.value}


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.PASS, detail)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, fix)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, detail)
