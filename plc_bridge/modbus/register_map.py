"""The Modbus holding-register map: the public contract with the PLC programmer (DESIGN.md).

Everything a PLC program depends on is in this one file: addresses (0-based holding registers),
CTRL / STATUS bit numbers and the word order of 32-bit values (high word first). `REGISTER_MAP` is
the table the README is written from; the constants below are the same addresses for code.

Handshake (the register bank in plc_bridge/modbus/register_bank.py implements it):

1. vision shows READY (b0 of STATUS) when it is online, idle and without a link fault;
2. the PLC writes PART_ID (and RECIPE_ID), bumps TRIG_SEQ and sets TRIGGER (TRIG_EN set). A trigger is
   taken when TRIG_SEQ differs from ACK_SEQ while TRIG_EN and TRIGGER are set, after any write, so one
   FC16 write of HR 0-5 or separate writes in that order both work;
3. vision copies TRIG_SEQ to ACK_SEQ and sets TRIG_ACK + BUSY (TRIG_ACK drops when the PLC clears
   TRIGGER);
4. vision writes the result block HR 102-111 and RESULT_VALID in one step: a read never sees half of it;
5. the PLC reads the block (RESULT_SEQ names the trigger, PART_ID is echoed) and sets RESULT_ACK;
6. vision clears RESULT_VALID on the rising edge of RESULT_ACK, and shows the next waiting result only
   after the PLC has cleared RESULT_ACK again (a four-phase handshake: VALID never seems to stay set);
7. results wait in a bounded FIFO; when it is full the newest result is dropped, OVERRUN is set and
   RESULTS_DROPPED counts it. CLEAR_ERR clears OVERRUN (counters keep counting).

A PLC_HEARTBEAT that does not change for 3 heartbeat periods sets ERROR until it changes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Writer = Literal["PLC", "vision"]


@dataclass(frozen=True, slots=True)
class Register:
    address: int  # 0-based holding register
    words: int  # 1 = u16, 2 = u32 high word first
    name: str
    writer: Writer
    doc: str


REGISTER_MAP: tuple[Register, ...] = (
    Register(0, 1, "CTRL", "PLC", "bits: b0 TRIG_EN, b1 TRIGGER, b2 RESULT_ACK, b3 CLEAR_ERR"),
    Register(1, 1, "TRIG_SEQ", "PLC", "PLC adds 1 per trigger (wraps 65535 -> 0); a change is the trigger"),
    Register(2, 2, "PART_ID", "PLC", "part id of the trigger, u32 high word first"),
    Register(4, 1, "RECIPE_ID", "PLC",
             "selects the model and thresholds (station.yaml recipes; 0 = model section)"),
    Register(5, 1, "PLC_HEARTBEAT", "PLC", "counts up at least once per heartbeat period"),
    Register(100, 1, "STATUS", "vision", "bits: b0 READY, b1 BUSY, b2 TRIG_ACK, b3 RESULT_VALID, b4 OK, "
             "b5 NG, b6 ERROR, b7 ONLINE, b8 OVERRUN"),
    Register(101, 1, "ACK_SEQ", "vision", "TRIG_SEQ of the last trigger taken"),
    Register(102, 1, "RESULT_SEQ", "vision", "TRIG_SEQ of the trigger the result block belongs to"),
    Register(103, 2, "PART_ID_ECHO", "vision", "PART_ID of that trigger, u32 high word first"),
    Register(105, 1, "VERDICT", "vision", "0 none, 1 OK, 2 NG, 3 NO_DECISION (reject)"),
    Register(106, 1, "DEFECT_CLASS", "vision", "0 none, else index of the defect class in the model card"),
    Register(107, 1, "SCORE", "vision", "defect score x1000 (0..1000)"),
    Register(108, 1, "ERROR_CODE", "vision", "why NO_DECISION (0 none); see edge/verdict.py ErrorCode"),
    Register(109, 1, "VISION_HEARTBEAT", "vision", "counts up once per second (wraps)"),
    Register(110, 1, "CYCLE_MS", "vision", "trigger to verdict, ms (saturates at 65535)"),
    Register(111, 1, "CAVITY_NG_MASK", "vision", "bit n set = cavity n+1 of the shot is NG or NO_DECISION"),
    Register(112, 1, "RESULTS_PENDING", "vision", "results not yet acknowledged, including the one shown"),
    Register(113, 1, "RESULTS_DROPPED", "vision", "results lost to FIFO overflow since start (wraps)"),
    Register(114, 1, "HEALTH", "vision", "health watch bits (append only): b0 CAMERA_LOST, b1 CAMERA_MOVED, "
             "b2 BLOCKED, b3 BLURRED, b4 LIGHTING, b5 SCORE_DRIFT, b6 MOLD_CHANGED; any set -> STATUS ERROR"),
)

# Addresses for code (same numbers as the table).
HR_CTRL, HR_TRIG_SEQ, HR_PART_ID, HR_RECIPE_ID, HR_PLC_HEARTBEAT = 0, 1, 2, 4, 5
HR_STATUS, HR_ACK_SEQ, HR_RESULT_SEQ, HR_PART_ID_ECHO, HR_VERDICT = 100, 101, 102, 103, 105
HR_DEFECT_CLASS, HR_SCORE, HR_ERROR_CODE, HR_VISION_HEARTBEAT, HR_CYCLE_MS = 106, 107, 108, 109, 110
HR_CAVITY_NG_MASK, HR_RESULTS_PENDING, HR_RESULTS_DROPPED, HR_HEALTH = 111, 112, 113, 114

PLC_BLOCK = range(HR_CTRL, HR_PLC_HEARTBEAT + 1)  # HR 0-5
VISION_BLOCK = range(HR_STATUS, HR_HEALTH + 1)  # HR 100-114
RESULT_BLOCK = range(HR_RESULT_SEQ, HR_CAVITY_NG_MASK + 1)  # HR 102-111, written with RESULT_VALID
REGISTER_COUNT = HR_HEALTH + 1  # addresses 6-99 exist and read as 0 (one contiguous space)

# CTRL bits (HR 0)
CTRL_TRIG_EN, CTRL_TRIGGER, CTRL_RESULT_ACK, CTRL_CLEAR_ERR = 1 << 0, 1 << 1, 1 << 2, 1 << 3

# STATUS bits (HR 100)
ST_READY, ST_BUSY, ST_TRIG_ACK, ST_RESULT_VALID = 1 << 0, 1 << 1, 1 << 2, 1 << 3
ST_OK, ST_NG, ST_ERROR, ST_ONLINE, ST_OVERRUN = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8

VERDICT_NONE, VERDICT_OK, VERDICT_NG, VERDICT_NO_DECISION = 0, 1, 2, 3
U16_MAX = 0xFFFF


def split_u32(value: int) -> tuple[int, int]:
    """A u32 as two registers, high word first."""
    if not 0 <= value <= 0xFFFF_FFFF:
        raise ValueError(f"u32 out of range: {value}")
    return value >> 16, value & U16_MAX


def join_u32(high: int, low: int) -> int:
    return (high << 16) | low
