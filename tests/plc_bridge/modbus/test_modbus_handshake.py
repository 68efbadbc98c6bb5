"""The Modbus handshake over a real pty cable at 115200 baud, driven by the virtual PLC."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusBaseSyncClient, ModbusSerialClient, ModbusTcpClient

from plc_bridge.modbus import register_map as m
from plc_bridge.modbus.register_bank import RegisterBank
from plc_bridge.modbus.server import ModbusServer, ModbusSettings
from sim.pty_pair import PtyCable
from sim.virtual_plc.modbus_master import VirtualModbusPlc
from sim.virtual_plc.record import synthetic_plan
from tests.plc_bridge.plc_helpers import StandInProducer, verdict_for
from tests.waiting import wait_until


@pytest.fixture
def server(cable: PtyCable, producer: StandInProducer) -> Iterator[ModbusServer]:
    bank = RegisterBank(producer.on_trigger, result_fifo=16)
    srv = ModbusServer(ModbusSettings(port=str(cable.runtime_path), unit_id=7), bank)
    producer.post = srv.post_result
    srv.start()
    yield srv
    srv.close()


def test_500_shots_no_result_lost_or_duplicated(cable: PtyCable, server: ModbusServer,
                                                producer: StandInProducer) -> None:
    plan = synthetic_plan(500, first_part_id=70_000)  # > 65535: the high word of PART_ID is used
    with VirtualModbusPlc(str(cable.plc_path), unit_id=7) as plc:
        records = plc.run(plan)
    assert [r.part_id for r in records] == [p.part_id for p in plan]
    assert all(r.echo_part_id == r.part_id for r in records), "every PART_ID echoed"
    for r in records:
        verdict, defect, mask = verdict_for(r.part_id)
        assert (r.verdict_code, r.defect_class_code, r.cavity_ng_mask) == (verdict, defect, mask)
    assert len(producer.triggers) == 500 and len(set(producer.triggers)) == 500, "one trigger per shot"
    status = server.status()
    assert status["results_posted"] == status["results_acked"] == 500
    assert status["results_dropped"] == 0 and status["pending"] == 0


def test_pymodbus_client_reads_status_and_result(cable: PtyCable, server: ModbusServer) -> None:
    """A master that is not ours, used as a PLC programmer would: raw register reads and writes."""
    client = ModbusSerialClient(str(cable.plc_path), baudrate=115200, timeout=0.5)
    assert client.connect()
    try:
        status = client.read_holding_registers(m.HR_STATUS, count=1, device_id=7).registers[0]
        assert status & m.ST_ONLINE and status & m.ST_READY and not status & m.ST_RESULT_VALID
        client.write_registers(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_TRIGGER, 1, 0x0001, 0x86A0, 2, 1],
                               device_id=7)  # PART_ID 100000
        block = _await_valid(client)
        assert block[m.HR_ACK_SEQ - 100] == 1 and block[m.HR_RESULT_SEQ - 100] == 1
        assert (block[m.HR_PART_ID_ECHO - 100] << 16) | block[m.HR_PART_ID_ECHO - 99] == 100_000
        assert block[m.HR_VERDICT - 100] == 1 and block[0] & m.ST_OK and not block[0] & m.ST_NG
        assert block[m.HR_RESULTS_PENDING - 100] == 1
        client.write_register(m.HR_CTRL, m.CTRL_TRIG_EN | m.CTRL_RESULT_ACK, device_id=7)
        after = client.read_holding_registers(m.HR_STATUS, count=14, device_id=7).registers
        assert not after[0] & m.ST_RESULT_VALID and after[m.HR_RESULTS_PENDING - 100] == 0
        # a write into the vision block is refused with ILLEGAL ADDRESS, not silently taken
        refused = client.write_register(m.HR_STATUS, 0, device_id=7)
        assert refused.isError()
        # another unit id on the same line: the slave stays silent
        other = ModbusSerialClient(str(cable.plc_path), baudrate=115200, timeout=0.2, retries=0)
    finally:
        client.close()
    assert other.connect()
    try:
        with pytest.raises(Exception):  # noqa: B017 - pymodbus raises ModbusIOException on no answer
            other.read_holding_registers(m.HR_STATUS, count=1, device_id=8)
    finally:
        other.close()


def _await_valid(client: ModbusBaseSyncClient, polls: int = 200, unit_id: int = 7) -> list[int]:
    for _ in range(polls):
        block = client.read_holding_registers(m.HR_STATUS, count=14, device_id=unit_id).registers
        if block[0] & m.ST_RESULT_VALID:
            return block
    raise AssertionError("RESULT_VALID never came")


def test_modbus_tcp_serves_the_same_map(producer: StandInProducer) -> None:
    bank = RegisterBank(producer.on_trigger)
    srv = ModbusServer(ModbusSettings(protocol="modbus-tcp", host="127.0.0.1", tcp_port=_free_port()), bank)
    producer.post = srv.post_result
    srv.start()
    client = ModbusTcpClient("127.0.0.1", port=srv.settings.tcp_port, timeout=1)
    try:
        assert client.connect()
        client.write_registers(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_TRIGGER, 1, 0, 49, 0, 1], device_id=1)
        block = _await_valid(client, unit_id=1)
        assert block[m.HR_PART_ID_ECHO - 99] == 49 and block[m.HR_VERDICT - 100] == 2  # 49 % 7 == 0: NG
        assert block[m.HR_CAVITY_NG_MASK - 100] == 0b0101 and block[0] & m.ST_NG
    finally:
        client.close()
        srv.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pulled_cable_is_a_fault_and_the_slave_serves_again(cable: PtyCable,
                                                          producer: StandInProducer) -> None:
    faults: list[tuple[bool, str]] = []
    srv = ModbusServer(ModbusSettings(port=str(cable.runtime_path)), RegisterBank(producer.on_trigger),
                       on_fault=lambda active, why: faults.append((active, why)))
    producer.post = srv.post_result
    srv.start()
    try:
        with VirtualModbusPlc(str(cable.plc_path)) as plc:
            first = plc.run(synthetic_plan(20, first_part_id=1))
        cable.unplug()
        try:
            wait_until(lambda: not srv.status()["port_connected"])
            assert faults and faults[-1][0] is True, "the lost port is reported"
        finally:
            cable.replug()
        wait_until(lambda: srv.status()["port_connected"])
        with VirtualModbusPlc(str(cable.plc_path)) as plc:
            second = plc.run(synthetic_plan(20, first_part_id=101))
            status_bits = plc.read(m.HR_STATUS, 1)[0]
    finally:
        srv.close()
    assert all(r.echo_part_id == r.part_id for r in first + second)
    wait_until(lambda: faults[-1][0] is False, "the returned port is reported")
    assert srv.status()["port_reconnects"] == 1
    assert status_bits & m.ST_READY and not status_bits & m.ST_BUSY, "no stuck state after the port returns"
