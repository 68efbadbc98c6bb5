"""The virtual PLC as a Modbus RTU master, following the handshake in plc_bridge/modbus/register_map.py.

Per shot: one FC16 write of HR 0-5 (TRIG_EN|TRIGGER, TRIG_SEQ+1, PART_ID, RECIPE_ID, heartbeat), poll
HR 100-113 until RESULT_VALID shows the result of that TRIG_SEQ, check the PART_ID echo, then write
CTRL = TRIG_EN|RESULT_ACK (which also drops TRIGGER). The next shot's block write clears RESULT_ACK.
PLC_HEARTBEAT counts the seconds since start and is written whenever it changed.

It uses pymodbus' own client, as a PLC integrator would test with it; transport faults (no answer,
garbled frame) are retried like a PLC's retry count, an exception answer from the slave is a bug.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from plc_bridge.modbus import register_map as m
from sim.virtual_plc.record import ShotPlan, ShotRecord

log = logging.getLogger(__name__)

REQUEST_RETRIES = 3


class ModbusMasterError(RuntimeError):
    """The slave answered with a Modbus exception, or never answered after the retries."""


class VirtualModbusPlc:
    def __init__(self, port: str, baudrate: int = 115200, unit_id: int = 1, recipe_id: int = 0,
                 result_timeout_s: float = 5.0, response_timeout_s: float = 1.0) -> None:
        """`response_timeout_s`: how long one request waits for its answer (a PLC's Modbus timeout,
        typically 1 s); long enough that a loaded machine's scheduling delay is not taken for a lost
        answer, three of which end the run."""
        self.unit_id = unit_id
        self.recipe_id = recipe_id
        self.result_timeout_s = result_timeout_s
        self._client = ModbusSerialClient(port, baudrate=baudrate, timeout=response_timeout_s, retries=0)
        self._t0_s = time.monotonic()
        self._beat_sent = 0
        self._seq = 0

    def __enter__(self) -> VirtualModbusPlc:
        if not self._client.connect():
            raise ModbusMasterError(f"cannot open {self._client.comm_params.host}")
        self._seq = self.read(m.HR_ACK_SEQ, 1)[0]  # continue where the slave is, as a PLC does at start
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def read(self, address: int, count: int) -> list[int]:
        def call() -> ModbusPDU:
            response = self._client.read_holding_registers(address, count=count, device_id=self.unit_id)
            # RTU has no transaction id: after a timeout on a loaded machine, the late answer to an
            # earlier request can be taken for this one. A PLC checks the length; so do we, and retry.
            if not response.isError() and len(response.registers) != count:
                raise ModbusIOException(f"answer holds {len(response.registers)} registers, {count} asked")
            return response

        return self._request(call).registers

    def write(self, address: int, values: list[int]) -> None:
        self._request(lambda: self._client.write_registers(address, values, device_id=self.unit_id))

    def run(self, plan: Iterable[ShotPlan]) -> list[ShotRecord]:
        records = [self.shot(p) for p in plan]
        self.write(m.HR_CTRL, [m.CTRL_TRIG_EN])
        return records

    def shot(self, plan: ShotPlan) -> ShotRecord:
        self._seq = (self._seq + 1) & m.U16_MAX
        hi, lo = m.split_u32(plan.part_id)
        t_trigger_s = time.monotonic()
        beat = self._beat_now()
        self.write(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_TRIGGER, self._seq, hi, lo, self.recipe_id, beat])
        self._beat_sent = beat
        block = self._await_result(t_trigger_s + self.result_timeout_s)
        latency_ms = (time.monotonic() - t_trigger_s) * 1000.0
        if block is None:
            log.error("shot %d (part %d): no result within %.1f s", plan.shot, plan.part_id,
                      self.result_timeout_s)
            return ShotRecord(plan.shot, plan.part_id, self._seq, None, 0, 0, 0, 0, 0, latency_ms)
        self.write(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_RESULT_ACK])
        echo = m.join_u32(block[m.HR_PART_ID_ECHO - m.HR_STATUS], block[m.HR_PART_ID_ECHO + 1 - m.HR_STATUS])
        if echo != plan.part_id:
            log.error("shot %d: PART_ID echo %d, expected %d", plan.shot, echo, plan.part_id)
        at = [block[a - m.HR_STATUS] for a in (m.HR_VERDICT, m.HR_DEFECT_CLASS, m.HR_SCORE, m.HR_ERROR_CODE,
                                               m.HR_CAVITY_NG_MASK)]
        return ShotRecord(plan.shot, plan.part_id, self._seq, echo, *at, latency_ms)

    def _await_result(self, deadline_s: float) -> list[int] | None:
        """Poll the vision block until RESULT_VALID shows this TRIG_SEQ's result (back to back, as a
        PLC scan does); None at the deadline. Keeps the heartbeat going while it waits."""
        while time.monotonic() < deadline_s:
            block = self.read(m.HR_STATUS, len(m.VISION_BLOCK))
            if block[0] & m.ST_RESULT_VALID and block[m.HR_RESULT_SEQ - m.HR_STATUS] == self._seq:
                return block
            beat = self._beat_now()
            if beat != self._beat_sent:
                self.write(m.HR_PLC_HEARTBEAT, [beat])
                self._beat_sent = beat
        return None

    def _beat_now(self) -> int:
        return int(time.monotonic() - self._t0_s) & m.U16_MAX

    def _request(self, call: Callable[[], ModbusPDU]) -> ModbusPDU:
        """One request with a PLC's retry count; transport faults retry, exception answers raise."""
        for attempt in range(1, REQUEST_RETRIES + 1):
            try:
                response = call()
            except ModbusException as exc:
                log.warning("Modbus request failed (attempt %d/%d): %s", attempt, REQUEST_RETRIES, exc)
                continue
            if response.isError():
                raise ModbusMasterError(f"slave answered with an exception: {response}")
            return response
        raise ModbusMasterError(f"no valid answer after {REQUEST_RETRIES} attempts")
