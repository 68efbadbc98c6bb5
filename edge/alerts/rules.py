"""Alert rules: turn the stream of part results and link events into few, meaningful alerts.

Input is the station's typed `Verdict`s (decision and error code as enums, never strings) and link
events. Each alert has a key (rule + cavity) and a lifecycle:
`new` when the condition starts, `update` while it lasts (at most one per `update_interval_s`, and only
when something changed), `end` when it is over. A supervisor's phone therefore buzzes once per problem.
A global budget of new alerts per hour is the last guard against a flood; alerts over budget are
tracked silently (no update, no end either) and counted in `suppressed`.

Rules:
- NG_STREAK: N NG parts in a row in one cavity; ends with the next OK part of that cavity.
- CAVITY_NG_RATE: NG rate of a cavity over its last `window` shots >= `threshold`, or >= `baseline_factor`
  times the cavity's own baseline (its NG rate over all shots older than the window, known once that is
  at least a window long). Ends with hysteresis (below 80 % of the firing level) so it does not flap.
- NO_DECISION / MODEL_ERROR / CAMERA_LOST (from NO_DECISION parts by error; camera also from `link`):
  end after `clear_after_parts` decided parts in a row.
- PLC_LINK_LOST / CAMERA_LOST via `link()`; OUTBOX_OVERFLOW via `outbox()` (its count follows the
  drops, it ends once the backlog is delivered); DISK_LOW via `disk()` (below storage.warn_free_mb, or
  anything not stored for want of space; ends when the space is back).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.alerts.texts import Language, defect_name, percent, render
from edge.verdict import Decision, ErrorCode, Verdict
from plc_bridge.mqtt.publisher import iso_utc

Lifecycle = Literal["new", "update", "end"]
Severity = Literal["info", "warning", "critical"]
ALERT_SCHEMA = "moldpilot.alert/1"
_HYSTERESIS = 0.8
# The alert a NO_DECISION part raises, by its error code; any other error raises NO_DECISION.
_ERROR_CODES = {ErrorCode.MODEL_ERROR: "MODEL_ERROR", ErrorCode.NO_FRAME: "CAMERA_LOST"}
# the line cannot inspect, or loses records; others: warning
_CRITICAL = {"MODEL_ERROR", "CAMERA_LOST", "PLC_LINK_LOST", "DISK_LOW"}


@dataclass(frozen=True)
class AlertRules:
    ng_streak: int | None = 3  # None: rule off
    rate_window: int | None = 200  # shots per cavity; None: rule off
    rate_threshold: float = 0.05
    baseline_factor: float | None = None  # e.g. 3.0: also fire at 3x the cavity's own baseline
    clear_after_parts: int = 20
    update_interval_s: float = 60.0
    max_new_per_hour: int = 60


@dataclass(frozen=True)
class Alert:
    type: Lifecycle
    code: str
    key: str
    severity: Severity
    message: str
    cavity: int | None = None
    defect: str | None = None
    part_id: int | None = None
    score: float | None = None

    def to_doc(self, line: str, station: str, ts_s: float | None = None) -> dict[str, Any]:
        """The MQTT payload; `id` is new per message so a consumer can drop redelivered duplicates."""
        return {"schema": ALERT_SCHEMA, "id": uuid.uuid4().hex, "type": self.type, "severity": self.severity,
                "code": self.code, "key": self.key, "line": line, "station": station, "part_id": self.part_id,
                "cavity": self.cavity, "defect": self.defect, "score": self.score,
                "ts": iso_utc(time.time() if ts_s is None else ts_s), "message": self.message}


@dataclass
class _Active:
    muted: bool
    last_sent_s: float
    last_text: str
    count: int = 0


@dataclass
class _CavityWindow:
    shots: deque[str | None]  # defect name of each NG shot, None for OK
    old_ng: int = 0  # shots that left the window: the cavity's own baseline
    old_shots: int = 0
    streak: int = 0
    defects: Counter[str] = field(default_factory=Counter)


class AlertEngine:
    """Not thread-safe: one owner (the MQTT sink's thread) feeds it."""

    def __init__(self, rules: AlertRules, language: Language = "en",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self.language: Language = language
        self._clock = clock
        self._active: dict[str, _Active] = {}
        self._cavities: dict[int, _CavityWindow] = {}
        self._decided_since: dict[str, int] = {}  # error-alert code -> decided parts since its last error
        self._new_times: deque[float] = deque()
        self._dropped_seen = 0
        self._lost_seen = 0
        self.suppressed = 0

    # ---- inputs ------------------------------------------------------------------------------------

    def observe(self, part: Verdict) -> list[Alert]:
        out: list[Alert] = []
        cavity = part.cavity
        if part.decision is Decision.NO_DECISION:
            code = _ERROR_CODES.get(part.error_code, "NO_DECISION")
            self._decided_since[code] = 0
            key = code
            count = self._active[key].count + 1 if key in self._active else 1
            self._raise(out, code, key, count, part, error=part.error_code.name, detail="")
            return out
        for code in list(self._decided_since):
            self._decided_since[code] += 1
            if self._decided_since[code] >= self.rules.clear_after_parts and code in self._active:
                self._end(out, code, code, count=self._active[code].count)
        w = self._window(cavity)
        ng = part.decision is Decision.NG
        self._streak(out, w, cavity, ng, part)
        self._rate(out, w, cavity, part.defect if ng else None, part)
        return out

    def link(self, link: Literal["plc", "camera"], up: bool, detail: str = "") -> list[Alert]:
        out: list[Alert] = []
        code = "PLC_LINK_LOST" if link == "plc" else "CAMERA_LOST"
        if up:
            self._end(out, code, code)
        else:
            self._raise(out, code, code, 1, None, detail=detail)
        return out

    def outbox(self, dropped_total: int, backlog: int) -> list[Alert]:
        """Feed the outbox counters (call it on every status tick too): a growing drop count raises or
        updates OUTBOX_OVERFLOW with the running total, a delivered backlog ends it."""
        out: list[Alert] = []
        key = "OUTBOX_OVERFLOW"
        grown = dropped_total > self._dropped_seen
        self._dropped_seen = max(self._dropped_seen, dropped_total)
        if grown or (key in self._active and backlog > 0):
            self._raise(out, key, key, dropped_total, None)  # an update goes out once due, with the total
        elif backlog == 0:
            self._end(out, key, key, count=dropped_total)
        return out

    def disk(self, free_mb: float, low: bool, lost: Mapping[str, int]) -> list[Alert]:
        """Feed the disk reserve's state: DISK_LOW while space is low or anything went unstored since
        the last tick; the counts in the text are totals per writer (ng_store, jsonl, mqtt_outbox)."""
        out: list[Alert] = []
        total = sum(lost.values())
        grown = total > self._lost_seen
        self._lost_seen = total
        counts = {name: lost.get(name, 0) for name in ("ng_store", "jsonl", "mqtt_outbox")}
        if low or grown:
            self._raise(out, "DISK_LOW", "DISK_LOW", total, None, free_mb=f"{free_mb:.0f}", **counts)
        else:
            self._end(out, "DISK_LOW", "DISK_LOW", free_mb=f"{free_mb:.0f}")
        return out

    # ---- rules -------------------------------------------------------------------------------------

    def _window(self, cavity: int) -> _CavityWindow:
        if cavity not in self._cavities:
            self._cavities[cavity] = _CavityWindow(deque(maxlen=self.rules.rate_window or 1))
        return self._cavities[cavity]

    def _streak(self, out: list[Alert], w: _CavityWindow, cavity: int, ng: bool, part: Verdict) -> None:
        n = self.rules.ng_streak
        if n is None:
            return
        key = f"NG_STREAK/{cavity}"
        w.streak = w.streak + 1 if ng else 0
        if w.streak >= n:
            self._raise(out, "NG_STREAK", key, w.streak, part, cavity=cavity,
                        defect=defect_name(part.defect, self.language))
        elif not ng and key in self._active:
            self._end(out, "NG_STREAK", key, cavity=cavity, count=self._active[key].count)

    def _rate(self, out: list[Alert], w: _CavityWindow, cavity: int, defect: str | None,
              part: Verdict) -> None:
        size = self.rules.rate_window
        if size is None:
            return
        if len(w.shots) == size:
            oldest = w.shots[0]
            w.old_shots += 1
            if oldest is not None:
                w.old_ng += 1
                w.defects[oldest] -= 1
        w.shots.append(defect)
        if defect is not None:
            w.defects[defect] += 1
        if len(w.shots) < size:
            return  # "over the last 200 shots" means 200 shots
        rate = sum(w.defects.values()) / size
        baseline = w.old_ng / w.old_shots if w.old_shots >= size else None
        level = self.rules.rate_threshold
        if self.rules.baseline_factor is not None and baseline is not None:
            level = min(level, self.rules.baseline_factor * max(baseline, 1.0 / size))
        key = f"CAVITY_NG_RATE/{cavity}"
        active = key in self._active
        fields = {"cavity": cavity, "rate": percent(rate, self.language), "window": size}
        if rate >= level or (active and rate >= _HYSTERESIS * level):
            top, top_n = w.defects.most_common(1)[0]
            self._raise(out, "CAVITY_NG_RATE", key, round(rate * size), part, **fields,
                        baseline=percent(baseline, self.language), defect=defect_name(top, self.language),
                        defect_rate=percent(top_n / size, self.language), top_defect=top)
        elif active:
            self._end(out, "CAVITY_NG_RATE", key, **fields)

    # ---- lifecycle ---------------------------------------------------------------------------------

    def _raise(self, out: list[Alert], code: str, key: str, count: int, part: Verdict | None,
               top_defect: str | None = None, **fields: Any) -> None:
        """Start or continue alert `key`; `count` (streak length, errors so far...) goes into the text."""
        now_s = self._clock()
        text = render(code, False, self.language, count=count, **fields)
        state = self._active.get(key)
        if state is None:
            muted = not self._budget(now_s)
            self.suppressed += muted
            self._active[key] = _Active(muted, now_s, text, count)
            if not muted:
                out.append(self._alert("new", code, key, text, part, top_defect))
            return
        state.count = count
        due = now_s - state.last_sent_s >= self.rules.update_interval_s
        if due and text != state.last_text and not state.muted:
            state.last_sent_s, state.last_text = now_s, text
            out.append(self._alert("update", code, key, text, part, top_defect))

    def _end(self, out: list[Alert], code: str, key: str, **fields: Any) -> None:
        state = self._active.pop(key, None)
        if state is not None and not state.muted:
            out.append(self._alert("end", code, key, render(code, True, self.language, **fields), None, None))

    def _budget(self, now_s: float) -> bool:
        while self._new_times and now_s - self._new_times[0] > 3600.0:
            self._new_times.popleft()
        if len(self._new_times) >= self.rules.max_new_per_hour:
            return False
        self._new_times.append(now_s)
        return True

    def _alert(self, kind: Lifecycle, code: str, key: str, text: str, part: Verdict | None,
               top_defect: str | None) -> Alert:
        """`part`: the verdict that raised the alert (None for link, outbox and end messages)."""
        cavity = part.cavity if part is not None else None
        if cavity is None and "/" in key:
            cavity = int(key.rsplit("/", 1)[1])
        return Alert(kind, code, key, "critical" if code in _CRITICAL else "warning", text, cavity,
                     top_defect or (part.defect if part else None), part.part_id if part else None,
                     part.score if part else None)
