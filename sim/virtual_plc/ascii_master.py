"""The virtual PLC on the framed ASCII link: per shot it sends TRG,<part_id>,<shot> (retransmitted until
ACKed) and waits for the RES of that part id, as a reject-gate controller would."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterable

from plc_bridge.ascii.frame import VERDICT_WORDS, Frame, NakCode
from plc_bridge.ascii.peer import AsciiPeer
from plc_bridge.serial_port import ReconnectingPort
from sim.virtual_plc.record import ShotPlan, ShotRecord

log = logging.getLogger(__name__)

VERDICT_CODES = {word: code for code, word in VERDICT_WORDS.items()}
RESULT_BACKLOG = 256


class VirtualAsciiPlc:
    def __init__(self, port: str, baudrate: int = 115200, result_timeout_s: float = 5.0,
                 heartbeat_s: float = 1.0) -> None:
        self.result_timeout_s = result_timeout_s
        self.port = ReconnectingPort(port, baudrate)
        self.peer = AsciiPeer(self.port, self._on_frame, "virtual-plc", heartbeat_s=heartbeat_s)
        self._results: queue.Queue[Frame] = queue.Queue(RESULT_BACKLOG)
        self.unexpected: list[Frame] = []  # RES for a part we were not waiting for

    def __enter__(self) -> VirtualAsciiPlc:
        self.peer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.peer.close()

    def run(self, plan: Iterable[ShotPlan]) -> list[ShotRecord]:
        return [self.shot(p) for p in plan]

    def shot(self, plan: ShotPlan) -> ShotRecord:
        t_trigger_s = time.monotonic()
        deadline_s = t_trigger_s + self.result_timeout_s
        seq = self.peer.next_seq()  # every retry of this trigger reuses it: taken at most once
        while not self.peer.send("TRG", plan.part_id, plan.shot, seq=seq):
            if time.monotonic() >= deadline_s or self.peer.closed:  # a real line rejects the part here
                return self._missing(plan, t_trigger_s)
        while (remaining_s := deadline_s - time.monotonic()) > 0:
            try:
                frame = self._results.get(timeout=remaining_s)
            except queue.Empty:
                break
            if int(frame.fields[0]) != plan.part_id:
                self.unexpected.append(frame)
                continue
            latency_ms = (time.monotonic() - t_trigger_s) * 1000.0
            verdict = VERDICT_CODES[frame.fields[1]]
            return ShotRecord(plan.shot, plan.part_id, frame.seq, plan.part_id, verdict,
                              int(frame.fields[2]), int(frame.fields[3]), 0, 0, latency_ms)
        return self._missing(plan, t_trigger_s)

    def _missing(self, plan: ShotPlan, t_trigger_s: float) -> ShotRecord:
        log.error("shot %d (part %d): no result within %.1f s", plan.shot, plan.part_id,
                  self.result_timeout_s)
        return ShotRecord(plan.shot, plan.part_id, 0, None, 0, 0, 0, 0, 0,
                          (time.monotonic() - t_trigger_s) * 1000.0)

    def _on_frame(self, frame: Frame) -> NakCode | None:
        if frame.cmd != "RES":
            return NakCode.FORMAT
        try:
            self._results.put_nowait(frame)
        except queue.Full:
            return NakCode.BUSY
        return None
