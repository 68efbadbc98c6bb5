"""PLC check: the PLC answers, i.e. its heartbeat moves.

Modbus: the runtime is the slave and the PLC the master, so the doctor serves the register map as the
slave for a few heartbeat periods and watches PLC_HEARTBEAT (HR 5) change twice (one change may be a
single write of a constant; two mean it counts). ASCII: the doctor is the vision end of the link and
waits for any valid frame from the line side (its HB arrives every heartbeat period).

Triggers arriving meanwhile are not judged (Modbus: taken and never answered; ASCII: NAK busy): run
the doctor with the line stopped, not beside a running station (which would hold the port anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import serial

from edge.config import PlcSection
from edge.doctor.result import CheckResult, failed, passed, skipped
from edge.plc_settings import modbus_settings
from plc_bridge.ascii.frame import Frame, NakCode
from plc_bridge.ascii.peer import AsciiPeer
from plc_bridge.modbus import register_map as m
from plc_bridge.modbus.register_bank import RegisterBank
from plc_bridge.modbus.server import ModbusServer
from plc_bridge.serial_port import ReconnectingPort

NAME = "PLC heartbeat"
POLL_S = 0.05
HEARTBEAT_PERIODS = 3  # as the runtime's own fault rule: 3 periods without a beat is a lost PLC


def check_plc(plc: PlcSection) -> CheckResult:
    if plc.protocol == "none":
        return skipped(NAME, "plc.protocol none: no PLC link")
    timeout_s = HEARTBEAT_PERIODS * plc.heartbeat_s + 1.0
    if plc.protocol == "ascii":
        return _ascii(plc, timeout_s)
    return _modbus(plc, timeout_s)


def _modbus(plc: PlcSection, timeout_s: float) -> CheckResult:
    where = (f"{plc.port} (unit id {plc.unit_id}, {plc.baudrate} baud)" if plc.protocol == "modbus-rtu"
             else f"{plc.host}:{plc.tcp_port} (unit id {plc.unit_id})")
    fix = (f"check the wiring (A/B, GND), that the PLC's baud rate and unit id match plc.baudrate "
           f"{plc.baudrate} and plc.unit_id {plc.unit_id}, and that the PLC program writes HR5 "
           f"(PLC_HEARTBEAT) every {plc.heartbeat_s:g} s")
    bank = RegisterBank(_ignore_trigger, result_fifo=1, heartbeat_s=plc.heartbeat_s)
    server = ModbusServer(modbus_settings(plc), bank)
    try:
        server.start()
    except Exception as exc:  # pymodbus raises plain exceptions for a port it cannot open
        return failed(NAME, f"cannot serve Modbus on {where}: {exc}",
                      "stop whatever holds the port (a running `moldpilot run`?) and check plc.port")
    try:
        values = _watch(lambda: bank.read(m.HR_PLC_HEARTBEAT, 1)[0], timeout_s)  # type: ignore[index]
    finally:
        server.close()
    if len(values) >= 3:
        return passed(NAME, f"PLC_HEARTBEAT moving ({' -> '.join(map(str, values[1:]))}) on {where}")
    if len(values) == 2:
        return failed(NAME, f"the PLC wrote HR5 once ({values[1]}) but it did not count up within "
                      f"{timeout_s:g} s on {where}", fix)
    return failed(NAME, f"no PLC_HEARTBEAT write within {timeout_s:g} s on {where}", fix)


def _ascii(plc: PlcSection, timeout_s: float) -> CheckResult:
    where = f"{plc.port} ({plc.baudrate} baud)"
    fix = (f"check the wiring (TX/RX crossed, GND), the baud rate {plc.baudrate} 8N1, and that the line "
           f"controller sends HB every {plc.heartbeat_s:g} s")
    assert plc.port is not None  # the config check and the serial port check run first
    peer = AsciiPeer(ReconnectingPort(plc.port, plc.baudrate), _busy, "doctor-ascii",
                     heartbeat_s=plc.heartbeat_s)
    try:
        peer.start()
    except serial.SerialException as exc:
        return failed(NAME, f"cannot open {where}: {exc}", "stop whatever holds the port and check plc.port")
    try:
        heard = _watch(lambda: min(peer.counts["frames_rx"], 1), timeout_s, changes=1)
    finally:
        peer.close()
    if len(heard) >= 2:
        return passed(NAME, f"the line controller answers on {where}")
    return failed(NAME, f"no frame from the line controller within {timeout_s:g} s on {where}", fix)


def _watch(read: Callable[[], int], timeout_s: float, changes: int = 2) -> list[int]:
    """The value and each change of it, until `changes` changes were seen or timeout_s passed. Polling:
    a master's write raises no event we could wait on."""
    values = [read()]
    deadline_s = time.monotonic() + timeout_s
    while len(values) <= changes and time.monotonic() < deadline_s:
        time.sleep(POLL_S)
        if (value := read()) != values[-1]:
            values.append(value)
    return values


def _ignore_trigger(seq: int, part_id: int, shot: int | None, recipe_id: int | None) -> None:
    """The doctor judges no parts."""


def _busy(frame: Frame) -> NakCode | None:
    return NakCode.BUSY  # a TRG now is refused, so the line controller knows the part was not taken
