"""Serial port check: the PLC's device path exists, is a character device, and we may open it."""

from __future__ import annotations

import grp
import os
import stat

from edge.config import PlcSection
from edge.doctor.result import CheckResult, failed, passed, skipped

NAME = "serial port"


def check_serial_port(plc: PlcSection) -> CheckResult:
    if plc.protocol not in ("modbus-rtu", "ascii"):
        return skipped(NAME, f"plc.protocol {plc.protocol} uses no serial port")
    if not plc.port:
        return failed(NAME, f"plc.protocol {plc.protocol} needs plc.port", "set plc.port, e.g. /dev/ttyUSB0")
    try:
        mode = os.stat(plc.port).st_mode
    except FileNotFoundError:
        return failed(NAME, f"{plc.port} does not exist",
                      "plug in the USB-RS485 adapter, find its path with `ls -l /dev/serial/by-id/` and set "
                      "plc.port to it (by-id paths survive re-plugging)")
    except OSError as exc:
        return failed(NAME, f"{plc.port}: {exc.strerror}", "check plc.port")
    if not stat.S_ISCHR(mode):
        return failed(NAME, f"{plc.port} is not a serial device", "set plc.port to the adapter's /dev path")
    if not os.access(plc.port, os.R_OK | os.W_OK):
        return failed(NAME, f"{plc.port} exists but this user may not open it",
                      f"add the user to the port's group: `sudo usermod -aG {_group_of(plc.port)} $USER`, "
                      "then log out and in again")
    return passed(NAME, f"{plc.port} is a serial device this user can open ({plc.baudrate} baud)")


def _group_of(path: str) -> str:
    """The device's group (dialout on Debian/Ubuntu, uucp on some others)."""
    try:
        return grp.getgrgid(os.stat(path).st_gid).gr_name
    except (KeyError, OSError):
        return "dialout"
