"""The framed ASCII protocol (DESIGN.md): codec and a streaming parser that turns line noise into
counted `Noise`, never into a frame.

    STX <seq 00-99>,<CMD>[,<field>...] ETX <CRC-16/CCITT-FALSE of the body, 4 hex> CR LF

Commands and fields: `TRG,<part_id>[,<shot>]`, `RES,<part_id>,<OK|NG|ND>,<defect>,<score x1000>`, `HB`,
replies `ACK` and `NAK,<01 crc|02 format|03 busy>`. Numbers are decimal ASCII; part ids and shots are
u32; <defect> is the defect class code (0 none, as in HR 106). Seq 00 is reserved for HB (heartbeats
never take part in duplicate suppression, so they must not use up the 01-99 cycle of real frames).

A frame whose body fails the CRC, or passes it but breaks the grammar, becomes `Noise` carrying the
seq when one can be read from it, so the receiver can NAK it; anything else (stray bytes, a frame cut
by a new STX, a body longer than MAX_BODY_BYTES) is counted and dropped.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from enum import Enum

STX, ETX, CR, LF = 0x02, 0x03, 0x0D, 0x0A
MAX_BODY_BYTES = 64  # the longest valid body is ~45 bytes (RES with a 10-digit part id)
TAIL_BYTES = 6  # 4 hex CRC + CR LF
HB_SEQ = 0
VERDICT_WORDS = {1: "OK", 2: "NG", 3: "ND"}
REPLIES = frozenset({"ACK", "NAK"})
U32_MAX = 0xFFFF_FFFF


class NakCode(str, Enum):
    CRC = "01"
    FORMAT = "02"
    BUSY = "03"


class NoiseKind(str, Enum):
    STRAY = "stray"  # bytes outside any frame
    TRUNCATED = "truncated"  # a new STX arrived before the frame ended
    OVERLONG = "overlong"
    CRC = "crc"
    FORMAT = "format"


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int
    cmd: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Noise:
    kind: NoiseKind
    seq: int | None = None  # readable seq of a non-reply frame: NAK it
    nbytes: int = 0


def crc16(body: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); crc16(b"123456789") == 0x29B1."""
    return binascii.crc_hqx(body, 0xFFFF)


def encode(seq: int, cmd: str, *fields: object) -> bytes:
    if not 0 <= seq <= 99:
        raise ValueError(f"seq must be 00-99, got {seq}")
    body = ",".join([f"{seq:02d}", cmd, *map(str, fields)]).encode("ascii")
    _check(Frame(seq, cmd, tuple(map(str, fields))))  # never send what we would refuse to read
    return bytes([STX]) + body + bytes([ETX]) + f"{crc16(body):04X}".encode("ascii") + bytes([CR, LF])


class FrameParser:
    """Feed it bytes as they come; it returns the frames and noise completed by them."""

    def __init__(self) -> None:
        self._body: bytearray | None = None  # None: hunting for STX
        self._tail = bytearray()
        self._stray = 0

    def feed(self, data: bytes) -> list[Frame | Noise]:
        out: list[Frame | Noise] = []
        for byte in data:
            if byte == STX:
                if self._body is not None:
                    out.append(Noise(NoiseKind.TRUNCATED, None, len(self._body) + len(self._tail) + 1))
                self._flush_stray(out)
                self._body, self._tail = bytearray(), bytearray()
            elif self._body is None:
                self._stray += 1
            elif self._tail or byte == ETX:
                self._tail.append(byte)  # ETX opens the tail and stays in it: tail = ETX + CRC + CR LF
                if len(self._tail) == TAIL_BYTES + 1:
                    out.append(_finish(bytes(self._body), bytes(self._tail[1:])))
                    self._body = None
            else:
                self._body.append(byte)
                if len(self._body) > MAX_BODY_BYTES:
                    out.append(Noise(NoiseKind.OVERLONG, None, len(self._body) + 1))
                    self._body = None
        self._flush_stray(out)
        return out

    def _flush_stray(self, out: list[Frame | Noise]) -> None:
        if self._stray:
            out.append(Noise(NoiseKind.STRAY, None, self._stray))
            self._stray = 0


def _finish(body: bytes, tail: bytes) -> Frame | Noise:
    seq = _readable_seq(body)
    nbytes = len(body) + TAIL_BYTES + 2
    crc_text, end = tail[:4], tail[4:]
    if end != bytes([CR, LF]) or not all(chr(c) in "0123456789ABCDEFabcdef" for c in crc_text):
        return Noise(NoiseKind.FORMAT, seq, nbytes)
    if int(crc_text, 16) != crc16(body):
        return Noise(NoiseKind.CRC, seq, nbytes)
    try:
        seq_text, cmd, *fields = body.decode("ascii").split(",")
        frame = Frame(int(seq_text), cmd, tuple(fields))
        if len(seq_text) != 2 or not seq_text.isdigit():
            raise ValueError(f"seq {seq_text!r}")
        _check(frame)
    except ValueError:  # also UnicodeDecodeError and a body without a comma
        return Noise(NoiseKind.FORMAT, seq, nbytes)
    return frame


def _readable_seq(body: bytes) -> int | None:
    """The seq of a damaged non-reply frame, if it can be read; replies are never NAKed (no storms)."""
    if len(body) < 3 or not body[:2].isdigit() or body[2:3] != b",":
        return None
    cmd = body[3:].split(b",")[0]
    return None if cmd in (b"ACK", b"NAK") else int(body[:2])


def _check(frame: Frame) -> None:
    """Raise ValueError unless the frame follows the grammar of its command."""
    f = frame.fields
    if not all(x.isascii() and x.isprintable() for x in f):
        raise ValueError("fields must be printable ASCII")
    if frame.cmd == "TRG":
        ok = len(f) in (1, 2) and all(_u32(x) for x in f)
    elif frame.cmd == "RES":
        ok = (len(f) == 4 and _u32(f[0]) and f[1] in VERDICT_WORDS.values() and _u32(f[2])
              and _u32(f[3]) and int(f[3]) <= 1000)
    elif frame.cmd in ("HB", "ACK"):
        ok = not f
    elif frame.cmd == "NAK":
        ok = len(f) == 1 and f[0] in {c.value for c in NakCode}
    else:
        ok = False
    hb_seq_misused = frame.cmd not in REPLIES and (frame.cmd == "HB") != (frame.seq == HB_SEQ)
    if not ok or hb_seq_misused:
        raise ValueError(f"bad {frame.cmd} frame: {frame}")


def _u32(text: str) -> bool:
    return text.isdigit() and text.isascii() and len(text) <= 10 and int(text) <= U32_MAX
