"""The runtime's side of the framed ASCII link: TRG frames become triggers, results go back as RES.

A TRG is refused with NAK 03 (busy) while MAX_IN_FLIGHT triggers wait for their verdicts, so the line
controller knows the part was not taken and can retry or reject it. Results queue in a bounded FIFO
for one named sender thread (stop-and-wait with retransmission, in trigger order); when the FIFO is
full the newest result is dropped, counted and logged. A result the peer never acknowledged within
result_retry_s is counted too. `status()` says what is true right now: port up, peer heard, counters.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass

from plc_bridge.ascii.frame import VERDICT_WORDS, Frame, NakCode
from plc_bridge.ascii.peer import AsciiPeer
from plc_bridge.link import FaultCallback, PlcResult, TriggerCallback
from plc_bridge.serial_port import ReconnectingPort

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AsciiSettings:
    port: str
    baudrate: int = 115200
    heartbeat_s: float = 1.0
    result_fifo: int = 16
    max_in_flight: int = 16
    result_retry_s: float = 5.0  # how long a result is offered before it is counted unacknowledged


class AsciiLink:
    def __init__(self, settings: AsciiSettings, on_trigger: TriggerCallback,
                 on_fault: FaultCallback | None = None) -> None:
        self.settings = settings
        self.on_trigger = on_trigger
        self.on_fault = on_fault
        self.port = ReconnectingPort(settings.port, settings.baudrate, on_state=self._on_port_state)
        self.peer = AsciiPeer(self.port, self._on_frame, "ascii-link", on_fault, settings.heartbeat_s)
        self._seq = itertools.count(1)  # the link's own trigger numbers (ASCII seqs repeat every 99)
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._results: queue.Queue[PlcResult | None] = queue.Queue(settings.result_fifo)
        self.counts = {"triggers": 0, "busy_naks": 0, "results_sent": 0, "results_dropped": 0,
                       "results_unacked": 0}
        self._sender = threading.Thread(target=self._send_loop, name="ascii-link-tx", daemon=True)

    def start(self) -> None:
        self.peer.start()
        self._sender.start()
        log.info("ASCII link on %s at %d baud", self.settings.port, self.settings.baudrate)

    def set_health(self, bits: int) -> None:
        """The framed protocol has no health word: a health condition reaches the line as NO_DECISION
        verdicts (where station.yaml makes it fail safe) and as MQTT alerts."""

    def post_result(self, result: PlcResult) -> None:
        with self._lock:
            self._in_flight.discard(result.seq)
        try:
            self._results.put_nowait(result)
        except queue.Full:
            with self._lock:
                self.counts["results_dropped"] += 1
            log.error("ASCII result FIFO full (%d): result of part %d dropped",
                      self.settings.result_fifo, result.part_id)

    def status(self) -> dict[str, object]:
        with self._lock:
            counts = dict(self.counts)
            in_flight = len(self._in_flight)
        return {"protocol": "ascii", **counts, "in_flight": in_flight, "pending": self._results.qsize(),
                "port_connected": self.port.connected, "port_reconnects": self.port.reconnects,
                "peer_lost": self.peer.peer_lost, "heartbeat_age_s": round(self.peer.heard_age_s, 1),
                "noise": dict(self.peer.noise),
                "duplicates": self.peer.counts["duplicates"], "retransmits": self.peer.counts["retransmits"]}

    def close(self) -> None:
        self._results.put(None)  # sender drains what is queued first
        self._sender.join(5.0)
        self.peer.close()

    def _on_frame(self, frame: Frame) -> NakCode | None:
        if frame.cmd != "TRG":
            return NakCode.FORMAT  # the line side sends only TRG (and HB, handled by the peer)
        with self._lock:
            if len(self._in_flight) >= self.settings.max_in_flight:
                self.counts["busy_naks"] += 1
                return NakCode.BUSY
            seq = next(self._seq)
            self._in_flight.add(seq)
            self.counts["triggers"] += 1
        shot = int(frame.fields[1]) if len(frame.fields) > 1 else None
        self.on_trigger(seq, int(frame.fields[0]), shot, None)
        return None

    def _send_loop(self) -> None:
        while (result := self._results.get()) is not None:
            # After the retransmissions of one send fail (cable pulled, peer rebooting), the same
            # frame with the same seq is sent again until result_retry_s: the peer then acknowledges
            # a copy it already took instead of acting twice, and a short outage loses no result.
            seq, deadline_s = self.peer.next_seq(), time.monotonic() + self.settings.result_retry_s
            fields = (result.part_id, VERDICT_WORDS[result.verdict_code], result.defect_class_code,
                      result.score_milli)
            acked = self.peer.send("RES", *fields, seq=seq)
            while not acked and time.monotonic() < deadline_s and not self.peer.closed:
                acked = self.peer.send("RES", *fields, seq=seq)
            with self._lock:
                self.counts["results_sent" if acked else "results_unacked"] += 1

    def _on_port_state(self, connected: bool, reason: str) -> None:
        if self.on_fault is not None:
            self.on_fault(not connected, reason)
