"""The ASCII link over a real pty cable at 115200 baud: 500 shots, line noise, a pulled cable."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
import serial

from plc_bridge.ascii.frame import FrameParser, Noise, encode
from plc_bridge.ascii.link import AsciiLink, AsciiSettings
from sim.pty_pair import PtyCable
from sim.virtual_plc.ascii_master import VirtualAsciiPlc
from sim.virtual_plc.record import ShotRecord, synthetic_plan
from tests.plc_bridge.plc_helpers import StandInProducer, verdict_for
from tests.waiting import wait_until

WORDS = {1: "OK", 2: "NG", 3: "ND"}


@pytest.fixture
def link(cable: PtyCable, producer: StandInProducer) -> Iterator[tuple[AsciiLink, list[tuple[bool, str]]]]:
    faults: list[tuple[bool, str]] = []
    ascii_link = AsciiLink(AsciiSettings(str(cable.runtime_path), heartbeat_s=0.2), producer.on_trigger,
                           on_fault=lambda active, why: faults.append((active, why)))
    producer.post = ascii_link.post_result
    ascii_link.start()
    yield ascii_link, faults
    ascii_link.close()





def check_records(records: list[ShotRecord]) -> None:
    for r in records:
        assert r.echo_part_id == r.part_id
        verdict, defect, _ = verdict_for(r.part_id)
        assert (r.verdict_code, r.defect_class_code) == (verdict, defect)


def test_500_shots_over_the_ascii_link(cable: PtyCable, link: tuple[AsciiLink, list],
                                       producer: StandInProducer) -> None:
    ascii_link, _ = link
    plan = synthetic_plan(500, first_part_id=4_000_000_000)
    with VirtualAsciiPlc(str(cable.plc_path), heartbeat_s=0.2) as plc:
        records = plc.run(plan)
        assert plc.unexpected == []
    check_records(records)
    assert [p for _, p in producer.triggers] == [p.part_id for p in plan], "each trigger exactly once"
    wait_until(lambda: ascii_link.status()["results_sent"] == 500)  # the last ACK is still on the wire
    status = ascii_link.status()
    assert status["results_dropped"] == status["results_unacked"] == 0


def test_line_noise_over_the_pty_never_becomes_a_trigger(cable: PtyCable, link: tuple[AsciiLink, list],
                                                         producer: StandInProducer) -> None:
    ascii_link, _ = link
    rng = random.Random(7)
    good = [encode(i + 1, "TRG", 900 + i) for i in range(20)]
    with serial.Serial(str(cable.plc_path), 115200, timeout=0.05) as line:
        for i, frame in enumerate(good):
            bad_crc = frame[:-6] + b"0000\r\n"
            garbage = rng.randbytes(40).replace(b"\x02", b"")
            line.write(garbage + frame[: len(frame) // 2] + bad_crc + frame)
            if i == 3:
                line.write(frame)  # a retransmission: ACKed again, not a second trigger
            line.flush()
        wait_until(lambda: len(producer.triggers) == 20)
        replies = FrameParser()
        seen: list[object] = []
        wait_until(lambda: len([f for f in seen if not isinstance(f, Noise)]) >= 61 or
                 bool(seen.extend(replies.feed(line.read(4096)))))
    assert [p for _, p in producer.triggers] == list(range(900, 920))
    texts = [",".join((f"{f.seq:02d}", f.cmd, *f.fields)) for f in seen if not isinstance(f, Noise)
             and f.cmd in ("ACK", "NAK")]
    assert texts.count("01,NAK,01") == 1 and texts.count("04,ACK") == 2
    status = ascii_link.status()
    assert status["duplicates"] == 1 and status["noise"]["crc"] == 20 and status["noise"]["truncated"] == 20


def test_pulled_cable_is_survived_and_the_run_recovers(cable: PtyCable, link: tuple[AsciiLink, list],
                                                      producer: StandInProducer) -> None:
    ascii_link, faults = link
    plan = synthetic_plan(120, first_part_id=1)
    records: list[ShotRecord] = []
    with VirtualAsciiPlc(str(cable.plc_path), heartbeat_s=0.2, result_timeout_s=10.0) as plc:
        runner = threading.Thread(target=lambda: records.extend(plc.run(plan)), name="plc-run", daemon=True)
        runner.start()
        wait_until(lambda: len(producer.triggers) >= 30)
        cable.unplug()
        try:
            wait_until(lambda: any(active for active, _ in faults))  # the fault is reported
            assert not ascii_link.status()["port_connected"]
            time.sleep(0.5)  # the cable stays out for a while: this is the scenario, not a wait on luck
        finally:
            cable.replug()
        runner.join(60)
        assert not runner.is_alive()
    check_records(records)
    assert len(records) == 120
    status = ascii_link.status()
    assert status["port_connected"] and status["port_reconnects"] >= 1 and not status["peer_lost"]
    assert faults[-1][0] is False, "the fault ended"
    assert len({p for _, p in producer.triggers}) == len(producer.triggers) == 120, "no shot taken twice"
