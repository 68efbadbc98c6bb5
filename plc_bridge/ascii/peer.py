"""One end of the framed ASCII link, symmetric: the runtime and the virtual PLC both use it.

- a reader thread parses what arrives; noise is counted by kind and NAKed where its seq can be read;
  a new frame is handed to `on_frame` (which returns None to ACK it or a NakCode to refuse it); a
  frame with the same seq as the last one taken is a retransmission whose ACK got lost: ACKed again,
  not acted on twice;
- `send()` is stop-and-wait: one frame in flight, retransmitted with the same seq every RETRY_S up to
  RETRANSMITS times until ACKed; False (counted) when the peer never acknowledged;
- a heartbeat thread sends HB every heartbeat_s and watches the peer: nothing valid from it for
  HEARTBEAT_MISSES periods is a fault (`on_fault(True, reason)`), which ends when frames come back.
  The last seq taken is kept across such a gap: the peer may resend its last frame after an outage.
  (A restarted peer whose first seq equals it loses that one frame: it is ACKed, never answered, and
  the line rejects the part - the fail-safe side, unlike acting on one trigger twice.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from plc_bridge.ascii.frame import HB_SEQ, REPLIES, Frame, FrameParser, NakCode, Noise, encode
from plc_bridge.link import FaultCallback
from plc_bridge.serial_port import ReconnectingPort

log = logging.getLogger(__name__)

RETRY_S = 0.1
RETRANSMITS = 3
HEARTBEAT_MISSES = 3
FrameHandler = Callable[[Frame], "NakCode | None"]


class AsciiPeer:
    def __init__(self, port: ReconnectingPort, on_frame: FrameHandler, name: str,
                 on_fault: FaultCallback | None = None, heartbeat_s: float = 1.0) -> None:
        self.port = port
        self.on_frame = on_frame
        self.on_fault = on_fault
        self.heartbeat_s = heartbeat_s
        self.noise: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self._parser = FrameParser()
        self._stop = threading.Event()
        self._send_lock = threading.Lock()  # one reliable frame in flight
        self._write_lock = threading.Lock()  # whole frames on the wire, never interleaved
        self._reply = threading.Condition()
        self._replies: dict[int, str] = {}  # seq -> "ACK" / "NAK,<code>" of the frame in flight
        self._next_seq = 1
        self._last_taken_seq: int | None = None
        self._last_rx_s = time.monotonic()
        self._peer_lost = False
        self._threads = [threading.Thread(target=self._read_loop, name=f"{name}-rx", daemon=True),
                         threading.Thread(target=self._heartbeat_loop, name=f"{name}-hb", daemon=True)]

    @property
    def peer_lost(self) -> bool:
        return self._peer_lost

    @property
    def heard_age_s(self) -> float:
        """Seconds since the line side last sent anything (a frame or its HB)."""
        return time.monotonic() - self._last_rx_s

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self.port.open()
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
        self.port.close()

    def next_seq(self) -> int:
        with self._send_lock:
            seq = self._next_seq
            self._next_seq = seq % 99 + 1  # 01..99; 00 is the heartbeat's
            return seq

    def send(self, cmd: str, *fields: object, seq: int | None = None) -> bool:
        """Send one frame and wait for its ACK, retransmitting; True if the peer acknowledged it.

        `seq`: send the same message again after a failed send (same seq from `next_seq()`), so a
        peer that took it but whose ACK was lost acknowledges it again instead of acting twice."""
        seq = self.next_seq() if seq is None else seq
        with self._send_lock:
            frame = encode(seq, cmd, *fields)
            for attempt in range(1 + RETRANSMITS):
                if attempt:
                    self.counts["retransmits"] += 1
                with self._reply:
                    self._replies.pop(seq, None)
                t_sent_s = time.monotonic()
                self._write(frame)
                with self._reply:
                    self._reply.wait_for(lambda: seq in self._replies or self._stop.is_set(), RETRY_S)
                    reply = self._replies.pop(seq, None)
                if reply == "ACK":
                    return True
                # a NAK comes early: keep the retransmissions RETRY_S apart all the same
                if self._stop.wait(max(0.0, t_sent_s + RETRY_S - time.monotonic())):
                    break
            self.counts["send_failed"] += 1
            log.warning("%s frame seq %02d never acknowledged after %d retransmits", cmd, seq, RETRANSMITS)
            return False

    def _write(self, frame: bytes) -> None:
        with self._write_lock:
            self.port.write(frame)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            data = self.port.read()
            for event in self._parser.feed(data) if data else ():
                if isinstance(event, Noise):
                    self._on_noise(event)
                else:
                    self._on_valid(event)

    def _on_noise(self, noise: Noise) -> None:
        self.noise[noise.kind.value] += 1
        if noise.seq is not None:
            code = NakCode.CRC if noise.kind.value == "crc" else NakCode.FORMAT
            self._write(encode(noise.seq, "NAK", code.value))

    def _on_valid(self, frame: Frame) -> None:
        self._last_rx_s = time.monotonic()
        self.counts["frames_rx"] += 1
        if frame.cmd in REPLIES:
            with self._reply:
                self._replies[frame.seq] = ",".join((frame.cmd, *frame.fields))
                self._reply.notify_all()
            return
        if frame.seq != HB_SEQ and frame.seq == self._last_taken_seq:
            self.counts["duplicates"] += 1
            self._write(encode(frame.seq, "ACK"))
            return
        refusal = None if frame.cmd == "HB" else self.on_frame(frame)
        if refusal is None:
            if frame.seq != HB_SEQ:
                self._last_taken_seq = frame.seq
            self._write(encode(frame.seq, "ACK"))
        else:
            self._write(encode(frame.seq, "NAK", refusal.value))

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self._write(encode(HB_SEQ, "HB"))
            silent_s = time.monotonic() - self._last_rx_s
            lost = silent_s >= HEARTBEAT_MISSES * self.heartbeat_s
            if lost != self._peer_lost:
                self._peer_lost = lost
                reason = f"no frame from the ASCII peer for {silent_s:.1f} s" if lost else "ASCII peer back"
                (log.error if lost else log.warning)("%s", reason)
                if self.on_fault is not None:
                    self.on_fault(lost, reason)
