"""Plain types every PLC link shares (Modbus server, ASCII link), so `edge` wires them without
plc_bridge ever importing edge.

- `TriggerCallback(seq, part_id, shot, recipe_id)` is called once per new trigger, on the link's own
  thread, outside any lock; it must not block (edge hands it to TriggerQueue.submit).
- `PlcResult` is one trigger's answer (all cavities of the shot folded into one), handed to
  `post_result()` from any thread.
- `LinkError`: a link that cannot start as configured (one line with the fix).
- `FaultCallback(active, reason)` fires when a link fault starts (True) or ends (False): PLC heartbeat
  lost, serial port gone. The MQTT alert rules hook in here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

TriggerCallback = Callable[[int, int, "int | None", "int | None"], None]
FaultCallback = Callable[[bool, str], None]


class LinkError(Exception):
    """A link that cannot start as configured (a TCP port taken or not allowed); the message names the
    setting to change. edge reports it as one line, as it does any setup error."""


@dataclass(frozen=True, slots=True)
class PlcResult:
    """One trigger's result in PLC terms. `verdict_code` 1 OK, 2 NG, 3 NO_DECISION (DESIGN HR 105)."""

    seq: int  # the trigger's seq as the link reported it (TRIG_SEQ / ASCII part of the trigger)
    part_id: int
    verdict_code: int
    defect_class_code: int = 0
    score_milli: int = 0
    error_code: int = 0
    cavity_ng_mask: int = 0
    cycle_ms: int = 0

    def __post_init__(self) -> None:
        if self.verdict_code not in (1, 2, 3):
            raise ValueError(f"verdict_code must be 1 OK, 2 NG or 3 NO_DECISION, got {self.verdict_code}")
        if not 0 <= self.score_milli <= 1000:
            raise ValueError(f"score_milli must be 0..1000, got {self.score_milli}")
        if not 0 <= self.part_id <= 0xFFFF_FFFF:
            raise ValueError(f"part_id must be a u32, got {self.part_id}")


class PlcLink(Protocol):
    """What `moldpilot run` needs from a link: start, answer, report, stop."""

    def start(self) -> None: ...

    def post_result(self, result: PlcResult) -> None: ...

    def status(self) -> dict[str, object]: ...

    def set_health(self, bits: int) -> None: ...

    def close(self) -> None: ...
