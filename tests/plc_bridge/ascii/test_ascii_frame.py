"""The ASCII frame codec and parser, including the 10,000-frame fuzz run (in process, fast)."""

from __future__ import annotations

import random

import pytest

from plc_bridge.ascii.frame import (
    MAX_BODY_BYTES,
    Frame,
    FrameParser,
    Noise,
    NoiseKind,
    crc16,
    encode,
)


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1


def test_round_trip_of_every_command() -> None:
    frames = [encode(1, "TRG", 4294967295), encode(2, "TRG", 7, 12), encode(3, "RES", 7, "NG", 4, 930),
              encode(0, "HB"), encode(4, "ACK"), encode(5, "NAK", "03")]
    assert encode(7, "TRG", 42) == b"\x0207,TRG,42\x03" + f"{crc16(b'07,TRG,42'):04X}".encode() + b"\r\n"
    parsed = FrameParser().feed(b"".join(frames))
    assert parsed == [Frame(1, "TRG", ("4294967295",)), Frame(2, "TRG", ("7", "12")),
                      Frame(3, "RES", ("7", "NG", "4", "930")), Frame(0, "HB"), Frame(4, "ACK"),
                      Frame(5, "NAK", ("03",))]


@pytest.mark.parametrize("bad", [
    b"\x0207,TRG,42\x030000\r\n",  # bad CRC, seq readable -> NAK 01
])
def test_bad_crc_keeps_the_seq_for_the_nak(bad: bytes) -> None:
    assert FrameParser().feed(bad) == [Noise(NoiseKind.CRC, 7, len(bad))]


@pytest.mark.parametrize("body", [b"07,TRG", b"07,TRG,x1", b"07,TRG,4294967296", b"07,FOO,1",
                                  b"07,RES,1,MAYBE,0,0", b"07,RES,1,OK,0,1001", b"07,HB", b"00,TRG,5",
                                  b"7,TRG,5", b"07,TRG,1,2,3"])
def test_grammar_errors_are_format_noise(body: bytes) -> None:
    frame = b"\x02" + body + b"\x03" + f"{crc16(body):04X}".encode() + b"\r\n"
    (event,) = FrameParser().feed(frame)
    assert isinstance(event, Noise) and event.kind is NoiseKind.FORMAT


def test_truncated_overlong_and_stray_bytes_are_counted_and_resync() -> None:
    good = encode(9, "TRG", 5)
    stream = b"junk" + good[:6] + good + b"\x02" + b"1" * (MAX_BODY_BYTES + 5) + good
    events = FrameParser().feed(stream)
    kinds = [e.kind for e in events if isinstance(e, Noise)]
    assert kinds == [NoiseKind.STRAY, NoiseKind.TRUNCATED, NoiseKind.OVERLONG, NoiseKind.STRAY]
    assert [e for e in events if isinstance(e, Frame)] == [Frame(9, "TRG", ("5",))] * 2


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    kind = rng.randrange(6)
    if kind == 0:  # flip one to three bits (the CRC catches every burst of up to 16 bits)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(1, len(data) - 2)
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # replace one byte by another
        i = rng.randrange(1, len(data) - 2)
        data[i] = (data[i] + rng.randrange(1, 256)) % 256
    elif kind == 2:  # truncate
        data = data[: rng.randrange(1, len(data) - 1)]
    elif kind == 3:  # insert a byte
        data.insert(rng.randrange(1, len(data) - 2), rng.randrange(256))
    elif kind == 4:  # overlong: pad the body
        data[3:3] = bytes(rng.randrange(0x20, 0x7F) for _ in range(MAX_BODY_BYTES + 1))
    else:  # pure noise
        data = bytearray(rng.randbytes(rng.randrange(1, 80)))
    return bytes(data)


def test_fuzz_10000_random_and_mutated_frames_give_no_false_trigger() -> None:
    rng = random.Random(20240611)
    parser = FrameParser()  # one parser for the whole stream: noise must not desynchronise it
    false_frames, noise, markers_found = 0, 0, 0
    for i in range(10_000):
        part_id, shot = rng.randrange(2**32), rng.randrange(1000)
        original = Frame(i % 99 + 1, "TRG", (str(part_id), str(shot)))
        events = parser.feed(_mutate(rng, encode(original.seq, "TRG", part_id, shot)) + b"\x02")
        # The only frame allowed out is the original itself (a mutation such as a case change of a
        # CRC hex digit leaves it intact); anything else would be a false trigger.
        false_frames += sum(isinstance(e, Frame) and e != original for e in events)
        noise += sum(isinstance(e, Noise) for e in events)
        if i % 10 == 0:  # real frames between the noise are still found
            marker = Frame(50, "TRG", (str(i),))
            markers_found += parser.feed(encode(50, "TRG", i)).count(marker)
    assert false_frames == 0
    assert markers_found == 1_000
    assert noise >= 9_000
