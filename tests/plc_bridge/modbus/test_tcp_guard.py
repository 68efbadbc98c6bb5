"""Modbus TCP guards its own door: allow-list, connection cap, idle timeout; a flood leaves the PLC served.

Clients outside the allow-list connect from 127.0.0.2 (still loopback: the client socket is bound to it).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusTcpClient

from plc_bridge.modbus import register_map as m
from plc_bridge.modbus.register_bank import RegisterBank
from plc_bridge.modbus.server import ModbusServer, ModbusSettings
from plc_bridge.modbus.tcp_guard import TcpGuardSettings
from tests.plc_bridge.plc_helpers import StandInProducer
from tests.waiting import wait_until

PLC, STRANGER = "127.0.0.1", "127.0.0.2"
FLOOD = 1_100  # more than a systemd service's 1,024 descriptors
CAP = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((PLC, 0))
        return s.getsockname()[1]


@pytest.fixture
def server(producer: StandInProducer) -> Iterator[ModbusServer]:
    guard = TcpGuardSettings(allowed_clients=(PLC,), max_connections=CAP, idle_timeout_s=30.0)
    srv = ModbusServer(ModbusSettings(protocol="modbus-tcp", host=PLC, tcp_port=_free_port(),
                                      tcp_guard=guard), RegisterBank(producer.on_trigger))
    producer.post = srv.post_result
    srv.start()
    yield srv
    srv.close()


def _connect(srv: ModbusServer, source: str) -> socket.socket:
    return socket.create_connection((PLC, srv.settings.tcp_port), timeout=5, source_address=(source, 0))


def _handshake(client: ModbusTcpClient, part_id: int, seq: int) -> None:
    """One trigger -> RESULT_VALID -> ACK, as the PLC does it."""
    client.write_registers(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_TRIGGER, seq, 0, part_id, 0, seq],
                           device_id=1)
    wait_until(lambda: client.read_holding_registers(m.HR_STATUS, count=5, device_id=1).registers[0]
               & m.ST_RESULT_VALID, f"RESULT_VALID for part {part_id}", timeout_s=10)
    block = client.read_holding_registers(m.HR_STATUS, count=5, device_id=1).registers
    assert block[m.HR_PART_ID_ECHO - 99] == part_id
    client.write_registers(m.HR_CTRL, [m.CTRL_TRIG_EN | m.CTRL_RESULT_ACK], device_id=1)


def _refused(sock: socket.socket) -> bool:
    """True when the server closed the connection without answering a Modbus read."""
    read_status = bytes([0, 1, 0, 0, 0, 6, 1, 3, 0, m.HR_STATUS, 0, 1])
    try:
        sock.sendall(read_status)
        return sock.recv(64) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_a_client_outside_the_allow_list_cannot_write(server: ModbusServer) -> None:
    recipe_before = server.bank.read(m.HR_RECIPE_ID, 1)
    stranger = ModbusTcpClient(PLC, port=server.settings.tcp_port, timeout=1, retries=0,
                               source_address=(STRANGER, 0))
    try:
        stranger.connect()
        with pytest.raises(Exception):  # noqa: B017 - refused: pymodbus raises its connection error
            stranger.write_register(m.HR_RECIPE_ID, 9, device_id=1)
    finally:
        stranger.close()
    assert server.bank.read(m.HR_RECIPE_ID, 1) == recipe_before
    wait_until(lambda: server.status()["tcp_refused_not_allowed"] >= 1, "the refusal counted", 10)


def test_flood_of_idle_connections_leaves_the_plc_served(server: ModbusServer,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    plc = ModbusTcpClient(PLC, port=server.settings.tcp_port, timeout=2)
    flood: list[socket.socket] = []
    try:
        assert plc.connect()
        _handshake(plc, part_id=11, seq=1)
        for i in range(FLOOD):  # allowed address, never a byte: the cap pushes out the longest idle
            flood.append(_connect(server, PLC))
            if i % (CAP - 2) == 0:  # the PLC keeps polling, as a real one does every scan
                plc.read_holding_registers(m.HR_STATUS, count=1, device_id=1)
        _handshake(plc, part_id=12, seq=2)
        for _ in range(FLOOD):  # not allowed: refused at once
            flood.append(_connect(server, STRANGER))
        assert _refused(flood[-1]) and not _refused(flood[FLOOD - 1])
        _handshake(plc, part_id=13, seq=3)
    finally:
        for sock in flood:
            sock.close()
        plc.close()
    status = wait_until(lambda: (s := server.status())["tcp_refused_not_allowed"] == FLOOD and s,
                        "every refusal counted", 10)
    assert status["tcp_closed_over_cap"] == FLOOD - (CAP - 1)  # PLC + CAP-1 flood sockets stay
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
    refusals_logged = [r for r in caplog.records if "closed connection from" in r.getMessage()]
    assert 2 <= len(refusals_logged) <= 2 * (FLOOD // 100 + 1), "rate-limited, not one line per refusal"


def test_a_silent_connection_is_closed_after_the_idle_timeout(producer: StandInProducer) -> None:
    guard = TcpGuardSettings(allowed_clients=("127.0.0.0/8",), idle_timeout_s=0.3)
    srv = ModbusServer(ModbusSettings(protocol="modbus-tcp", host=PLC, tcp_port=_free_port(),
                                      tcp_guard=guard), RegisterBank(producer.on_trigger))
    srv.start()
    try:
        with _connect(srv, STRANGER) as sock:
            wait_until(lambda: srv.status()["tcp_closed_idle"] == 1, "the idle connection closed", 10)
            assert sock.recv(64) == b""
    finally:
        srv.close()
