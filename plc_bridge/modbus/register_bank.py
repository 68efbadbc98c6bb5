"""The holding-register image and the PLC handshake on it (see the map and its handshake in
plc_bridge/modbus/register_map.py). No I/O here: the Modbus server calls `read` / `write` for the master's
requests, the pipeline calls `post_result`, a timer calls `tick`; tests drive it directly.

One lock guards the image, so a master's read never sees a half-written result block and a result
never lands between the two halves of a PLC write. Callbacks (trigger, fault) run after the lock is
released: a callback may post a result straight back without deadlocking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from plc_bridge.link import FaultCallback, PlcResult, TriggerCallback
from plc_bridge.modbus import register_map as m

log = logging.getLogger(__name__)

HEARTBEAT_MISSES = 3  # PLC heartbeat periods without a change before the link is in fault
PLC_HEARTBEAT_LOST = "PLC heartbeat lost"


class RegisterBank:
    def __init__(
        self,
        on_trigger: TriggerCallback,
        on_fault: FaultCallback | None = None,
        result_fifo: int = 16,
        heartbeat_s: float = 1.0,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        if result_fifo < 1:
            raise ValueError(f"result_fifo must be >= 1, got {result_fifo}")
        self._on_trigger = on_trigger
        self._on_fault = on_fault
        self._fifo_size = result_fifo
        self._heartbeat_s = heartbeat_s
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._regs = [0] * m.REGISTER_COUNT
        self._fifo: deque[PlcResult] = deque()  # bounded by hand: overflow must be counted, not evicted
        self._in_flight: set[int] = set()  # TRIG_SEQ of triggers taken and not yet answered
        self._valid = self._trig_ack = self._overrun = False
        self._fault: str | None = None
        now_s = clock_s()
        self._plc_beat_s = now_s  # armed at start: a PLC that never beats is a fault too
        self._next_vision_beat_s = now_s + 1.0
        self.counts = {"triggers": 0, "results_posted": 0, "results_acked": 0, "results_dropped": 0}
        self._refresh_status()

    # --- master side (Modbus requests) ---------------------------------------------------------

    def read(self, address: int, count: int) -> list[int] | None:
        """Registers [address, address+count); None if any lies outside the map."""
        if address < 0 or count < 1 or address + count > m.REGISTER_COUNT:
            return None
        with self._lock:
            return self._regs[address : address + count]

    def write(self, address: int, values: Sequence[int]) -> bool:
        """A PLC write; False (illegal address) if it touches anything but HR 0-5."""
        if address not in m.PLC_BLOCK or address + len(values) - 1 not in m.PLC_BLOCK:
            return False
        trigger: tuple[int, int, int] | None = None
        with self._lock:
            old_ctrl, old_beat = self._regs[m.HR_CTRL], self._regs[m.HR_PLC_HEARTBEAT]
            self._regs[address : address + len(values)] = [v & m.U16_MAX for v in values]
            ctrl = self._regs[m.HR_CTRL]
            rose, fell = ctrl & ~old_ctrl, old_ctrl & ~ctrl
            if rose & m.CTRL_CLEAR_ERR:
                self._overrun = False
            if rose & m.CTRL_RESULT_ACK and self._valid:
                self._valid = False
                self.counts["results_acked"] += 1
            if fell & m.CTRL_TRIGGER or not ctrl & m.CTRL_TRIGGER:
                self._trig_ack = False
            trigger = self._take_trigger(ctrl)
            self._show_next()
            fault_ended = self._regs[m.HR_PLC_HEARTBEAT] != old_beat and self._beat_seen()
            self._refresh_status()
        if fault_ended:
            self._report_fault(False, PLC_HEARTBEAT_LOST)
        if trigger is not None:
            seq, part_id, recipe_id = trigger
            self._on_trigger(seq, part_id, None, recipe_id)
        return True

    # --- vision side -------------------------------------------------------------------------

    def post_result(self, result: PlcResult) -> bool:
        """Queue one trigger's result; False if the FIFO was full (dropped, counted, OVERRUN set)."""
        with self._lock:
            self._in_flight.discard(result.seq & m.U16_MAX)
            if len(self._fifo) >= self._fifo_size:
                self._overrun = True
                self.counts["results_dropped"] += 1
                self._regs[m.HR_RESULTS_DROPPED] = self.counts["results_dropped"] & m.U16_MAX
                self._refresh_status()
                dropped = True
            else:
                self._fifo.append(result)
                self.counts["results_posted"] += 1
                self._show_next()
                self._refresh_status()
                dropped = False
        if dropped:
            log.error("result FIFO full (%d): result of part %d dropped; OVERRUN set",
                      self._fifo_size, result.part_id)
        return not dropped

    def set_health(self, bits: int) -> None:
        """The health watch's condition bits into HR 114 (STATUS ERROR while any is set)."""
        with self._lock:
            self._regs[m.HR_HEALTH] = bits & m.U16_MAX
            self._refresh_status()

    def tick(self) -> None:
        """Call a few times per second: counts VISION_HEARTBEAT, watches PLC_HEARTBEAT."""
        now_s = self._clock_s()
        fault_started = False
        with self._lock:
            while now_s >= self._next_vision_beat_s:
                self._regs[m.HR_VISION_HEARTBEAT] = (self._regs[m.HR_VISION_HEARTBEAT] + 1) & m.U16_MAX
                self._next_vision_beat_s += 1.0
            if self._fault is None and now_s - self._plc_beat_s >= HEARTBEAT_MISSES * self._heartbeat_s:
                self._fault = PLC_HEARTBEAT_LOST
                fault_started = True
                self._refresh_status()
        if fault_started:
            self._report_fault(True, PLC_HEARTBEAT_LOST)

    def status(self) -> dict[str, object]:
        with self._lock:
            return {**self.counts, "fault": self._fault, "overrun": self._overrun,
                    "heartbeat_age_s": round(self._clock_s() - self._plc_beat_s, 1),
                    "in_flight": len(self._in_flight), "pending": len(self._fifo) + self._valid,
                    "status_bits": self._regs[m.HR_STATUS]}

    # --- under the lock ----------------------------------------------------------------------

    def _take_trigger(self, ctrl: int) -> tuple[int, int, int] | None:
        seq = self._regs[m.HR_TRIG_SEQ]
        armed = ctrl & m.CTRL_TRIG_EN and ctrl & m.CTRL_TRIGGER
        if not armed or seq == self._regs[m.HR_ACK_SEQ]:
            return None
        self._regs[m.HR_ACK_SEQ] = seq
        self._trig_ack = True
        self._in_flight.add(seq)
        self.counts["triggers"] += 1
        part_id = m.join_u32(self._regs[m.HR_PART_ID], self._regs[m.HR_PART_ID + 1])
        return seq, part_id, self._regs[m.HR_RECIPE_ID]

    def _show_next(self) -> None:
        """Put the oldest waiting result into the block, with RESULT_VALID, if the PLC is ready for it."""
        if self._valid or not self._fifo or self._regs[m.HR_CTRL] & m.CTRL_RESULT_ACK:
            return
        r = self._fifo.popleft()
        hi, lo = m.split_u32(r.part_id)
        # HR 109 (VISION_HEARTBEAT) sits inside the block's address range and is left alone.
        for address, value in ((m.HR_RESULT_SEQ, r.seq), (m.HR_PART_ID_ECHO, hi), (m.HR_PART_ID_ECHO + 1, lo),
                               (m.HR_VERDICT, r.verdict_code), (m.HR_DEFECT_CLASS, r.defect_class_code),
                               (m.HR_SCORE, r.score_milli), (m.HR_ERROR_CODE, r.error_code),
                               (m.HR_CYCLE_MS, r.cycle_ms), (m.HR_CAVITY_NG_MASK, r.cavity_ng_mask)):
            self._regs[address] = min(value, m.U16_MAX) if address == m.HR_CYCLE_MS else value & m.U16_MAX
        self._valid = True

    def _beat_seen(self) -> bool:
        """PLC_HEARTBEAT changed: re-arm the watch; True if that ends a heartbeat fault."""
        self._plc_beat_s = self._clock_s()
        if self._fault == PLC_HEARTBEAT_LOST:
            self._fault = None
            return True
        return False

    def _refresh_status(self) -> None:
        bits = m.ST_ONLINE
        verdict = self._regs[m.HR_VERDICT]
        if self._valid:
            # NG means "reject": NO_DECISION sets it too, so a PLC looking at one bit is still fail-safe.
            bits |= m.ST_RESULT_VALID | (m.ST_OK if verdict == m.VERDICT_OK else m.ST_NG)
        if self._in_flight:
            bits |= m.ST_BUSY
        elif not self._valid and not self._fifo and self._fault is None:
            bits |= m.ST_READY
        if self._trig_ack:
            bits |= m.ST_TRIG_ACK
        if self._fault is not None or self._regs[m.HR_HEALTH]:
            bits |= m.ST_ERROR  # a health condition too: the PLC may still take verdicts, but must know
        if self._overrun:
            bits |= m.ST_OVERRUN
        self._regs[m.HR_STATUS] = bits
        self._regs[m.HR_RESULTS_PENDING] = min(len(self._fifo) + self._valid, m.U16_MAX)

    def _report_fault(self, active: bool, reason: str) -> None:
        (log.error if active else log.warning)("PLC link %s: %s", "fault" if active else "recovered", reason)
        if self._on_fault is not None:
            self._on_fault(active, reason)
