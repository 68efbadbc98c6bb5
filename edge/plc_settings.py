"""The Modbus server's settings from station.yaml's `plc:` section: one mapping, used by the running
link and by `doctor`, so both serve the PLC with the same address, allow-list and limits."""

from __future__ import annotations

from typing import Literal

from edge.config import PlcSection
from plc_bridge.modbus.server import ModbusSettings
from plc_bridge.modbus.tcp_guard import TcpGuardSettings


def modbus_settings(plc: PlcSection) -> ModbusSettings:
    tcp = plc.protocol == "modbus-tcp"
    protocol: Literal["modbus-rtu", "modbus-tcp"] = "modbus-tcp" if tcp else "modbus-rtu"
    guard = TcpGuardSettings(tuple(plc.allowed_clients), plc.max_connections, plc.idle_timeout_s,
                             plc.keepalive_s)
    return ModbusSettings(protocol, plc.port, plc.baudrate, plc.unit_id, plc.host, plc.tcp_port, guard)
