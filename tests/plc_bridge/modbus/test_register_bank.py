"""The handshake state machine on the register image, driven directly (no serial line)."""

from __future__ import annotations

import threading

from plc_bridge.link import PlcResult
from plc_bridge.modbus import register_map as m
from plc_bridge.modbus.register_bank import RegisterBank


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def status(bank: RegisterBank) -> int:
    block = bank.read(m.HR_STATUS, 1)
    assert block is not None
    return block[0]


def trigger(bank: RegisterBank, seq: int, part_id: int, ctrl: int = m.CTRL_TRIG_EN | m.CTRL_TRIGGER) -> None:
    assert bank.write(m.HR_CTRL, [ctrl, seq, *m.split_u32(part_id), 9])


def test_trigger_needs_trig_en_and_a_new_seq() -> None:
    seen: list[tuple[int, int, int | None, int | None]] = []
    bank = RegisterBank(lambda *t: seen.append(t))
    trigger(bank, 1, 5, ctrl=m.CTRL_TRIGGER)  # TRIG_EN off: ignored
    assert seen == []
    trigger(bank, 1, 5)  # same seq, now enabled: taken once
    trigger(bank, 1, 5)  # rewritten unchanged (a cyclic PLC write): not a new trigger
    assert seen == [(1, 5, None, 9)]
    assert status(bank) & m.ST_TRIG_ACK and status(bank) & m.ST_BUSY and not status(bank) & m.ST_READY
    assert bank.read(m.HR_ACK_SEQ, 1) == [1]
    bank.write(m.HR_CTRL, [m.CTRL_TRIG_EN])
    assert not status(bank) & m.ST_TRIG_ACK


def test_four_phase_ack_and_fifo_order() -> None:
    bank = RegisterBank(lambda *_: None)
    for seq in (1, 2):
        trigger(bank, seq, 100 + seq)
        bank.post_result(PlcResult(seq, 100 + seq, 2 if seq == 1 else 1, cavity_ng_mask=0b10))
    block = bank.read(m.HR_STATUS, 14)
    assert block is not None and block[0] & m.ST_RESULT_VALID and block[0] & m.ST_NG
    assert block[m.HR_RESULT_SEQ - 100] == 1 and block[m.HR_RESULTS_PENDING - 100] == 2
    assert block[m.HR_CAVITY_NG_MASK - 100] == 0b10
    bank.write(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_RESULT_ACK])
    assert not status(bank) & m.ST_RESULT_VALID  # VALID visibly drops while ACK is held
    bank.write(m.HR_CTRL, [m.CTRL_TRIG_EN])
    assert status(bank) & m.ST_RESULT_VALID and status(bank) & m.ST_OK
    assert bank.read(m.HR_RESULT_SEQ, 1) == [2]
    bank.write(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_RESULT_ACK])
    bank.write(m.HR_CTRL, [m.CTRL_TRIG_EN])
    assert status(bank) & m.ST_READY and bank.read(m.HR_RESULTS_PENDING, 1) == [0]


def test_overflow_sets_overrun_and_counts_until_clear_err() -> None:
    bank = RegisterBank(lambda *_: None, result_fifo=4)
    accepted = [bank.post_result(PlcResult(i, i, 1)) for i in range(1, 8)]
    # the first is shown at once, four wait in the FIFO, the last two are dropped
    assert accepted.count(False) == 2 and accepted[-2:] == [False, False]
    assert status(bank) & m.ST_OVERRUN and bank.read(m.HR_RESULTS_DROPPED, 1) == [2]
    bank.write(m.HR_CTRL, [m.CTRL_CLEAR_ERR])
    assert not status(bank) & m.ST_OVERRUN and bank.read(m.HR_RESULTS_DROPPED, 1) == [2]


def test_plc_heartbeat_loss_is_a_fault_until_it_beats_again() -> None:
    clock, faults = FakeClock(), []
    bank = RegisterBank(lambda *_: None, on_fault=lambda active, why: faults.append((active, why)),
                        heartbeat_s=1.0, clock_s=clock)
    clock.now_s += 2.5
    bank.tick()
    assert not status(bank) & m.ST_ERROR and bank.read(m.HR_VISION_HEARTBEAT, 1) == [2]
    clock.now_s += 0.6
    bank.tick()
    assert status(bank) & m.ST_ERROR and not status(bank) & m.ST_READY
    assert faults == [(True, "PLC heartbeat lost")]
    bank.write(m.HR_PLC_HEARTBEAT, [1])
    assert not status(bank) & m.ST_ERROR and faults[-1] == (False, "PLC heartbeat lost")


def test_writes_outside_the_plc_block_are_refused() -> None:
    bank = RegisterBank(lambda *_: None)
    assert not bank.write(m.HR_STATUS, [0])
    assert not bank.write(m.HR_PLC_HEARTBEAT, [1, 2])  # runs past HR 5
    assert bank.read(m.REGISTER_COUNT - 1, 2) is None


def test_a_read_never_sees_half_a_result_block() -> None:
    bank = RegisterBank(lambda *_: None, result_fifo=1)
    stop = threading.Event()

    def churn() -> None:
        seq = 0
        while not stop.is_set():
            seq = seq % 60000 + 1
            bank.post_result(PlcResult(seq, seq * 3, 1, score_milli=seq % 1000))
            bank.write(m.HR_CTRL, [m.CTRL_RESULT_ACK])
            bank.write(m.HR_CTRL, [0])

    worker = threading.Thread(target=churn, name="churn", daemon=True)
    worker.start()
    try:
        for _ in range(20000):
            block = bank.read(m.HR_RESULT_SEQ, 6)
            assert block is not None
            seq, part_id = block[0], m.join_u32(block[1], block[2])
            assert part_id == seq * 3 and block[5] == seq % 1000
    finally:
        stop.set()
        worker.join()
