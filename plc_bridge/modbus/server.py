"""The runtime as a Modbus slave: RTU on a serial port or Modbus TCP, serving a `RegisterBank`.

pymodbus 3.16 keeps its own datastore (SimDevice) with no write hook, so the bank is plugged in as an
"old simulator" server context: pymodbus hands every read / write of holding registers straight to
`_BankContext`, which answers from the bank under the bank's lock. Other function codes and other
unit ids get no answer (ignore_missing_devices), as a slave on a multi-drop RS-485 line must.

The server runs its asyncio loop on one named thread; `start()` returns once it listens, `close()`
stops and joins it. The same loop counts the heartbeats and watches the serial device (see
`_watch_port`): a vanished port is a fault (status + `on_fault`) until it is served again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer

from plc_bridge.link import FaultCallback, LinkError, PlcResult
from plc_bridge.modbus.register_bank import RegisterBank
from plc_bridge.modbus.tcp_guard import GuardedTcpServer, TcpGuardSettings
from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)

HOLDING_FUNCTION_CODES = frozenset({3, 6, 16, 23})
TICK_S = 0.1  # heartbeat timer resolution
START_TIMEOUT_S = 5.0
RETRY_MIN_S, RETRY_MAX_S = 0.1, 2.0  # backoff while a vanished serial port is not usable yet


@dataclass(frozen=True, slots=True)
class ModbusSettings:
    protocol: Literal["modbus-rtu", "modbus-tcp"] = "modbus-rtu"
    port: str | None = None  # serial device (RTU)
    baudrate: int = 115200
    unit_id: int = 1
    host: str = "127.0.0.1"  # Modbus TCP listen address; 0.0.0.0 (all interfaces) only by choice
    tcp_port: int = 502
    tcp_guard: TcpGuardSettings = field(default_factory=TcpGuardSettings)


class _BankContext(ModbusServerContext):
    """Holding registers of one unit id, answered by the bank. The base __init__ is skipped on
    purpose: it only builds pymodbus' own datastore, which this context replaces."""

    def __init__(self, bank: RegisterBank, unit_id: int) -> None:
        self.bank = bank
        self.unit_id = unit_id
        self.old_simulator = True  # tells ModbusBaseServer to call our async_getValues/async_setValues
        self.simdevices = []

    def _check(self, device_id: int, func_code: int) -> ExcCodes | None:
        if device_id != self.unit_id:
            raise NoSuchIdException(f"unit id {device_id} is not ours ({self.unit_id})")
        return None if func_code in HOLDING_FUNCTION_CODES else ExcCodes.ILLEGAL_FUNCTION

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> list[int] | ExcCodes:
        refused = self._check(device_id, func_code)
        values = None if refused else self.bank.read(address, count)
        return refused or (ExcCodes.ILLEGAL_ADDRESS if values is None else values)

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: Sequence[int] | Sequence[bool]) -> ExcCodes | None:
        refused = self._check(device_id, func_code)
        if refused:
            return refused
        return None if self.bank.write(address, [int(v) for v in values]) else ExcCodes.ILLEGAL_ADDRESS

    def device_ids(self) -> list[int]:
        return [self.unit_id]


class ModbusServer:
    """`start()` / `post_result()` / `status()` / `close()`: the PlcLink of both Modbus protocols."""

    def __init__(self, settings: ModbusSettings, bank: RegisterBank,
                 on_fault: FaultCallback | None = None) -> None:
        if settings.protocol == "modbus-rtu" and not settings.port:
            raise ValueError("modbus-rtu needs a serial port (plc.port)")
        self.settings = settings
        self.bank = bank
        self.on_fault = on_fault
        self.port_reconnects = 0
        self._server: ModbusSerialServer | GuardedTcpServer | None = None
        self._loop_errors = 0  # asyncio errors outside a request (e.g. accept() out of descriptors)
        self._device: int | None = None  # st_rdev of the serial device being served
        self._retry_s = 0.0  # backoff between attempts to reopen a vanished port
        self._next_try_s = 0.0
        self._closing = threading.Event()
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="modbus-server", daemon=True)

    def start(self) -> None:
        self._thread.start()
        try:
            self._started.result(START_TIMEOUT_S)  # re-raises a failure to listen (port busy, ...)
        except Exception as exc:
            s = self.settings
            raise LinkError(f"Modbus TCP cannot listen on {s.host}:{s.tcp_port} ({exc}); pick a free "
                            "plc.tcp_port (below 1024 needs CAP_NET_BIND_SERVICE) or an address of this "
                            "PC in plc.host") from None
        s = self.settings
        where = s.port if s.protocol == "modbus-rtu" else f"{s.host}:{s.tcp_port}"
        log.info("Modbus %s slave %d serving on %s", s.protocol, s.unit_id, where)

    def post_result(self, result: PlcResult) -> None:
        self.bank.post_result(result)

    def set_health(self, bits: int) -> None:
        self.bank.set_health(bits)

    def status(self) -> dict[str, object]:
        server = self._server
        tcp = server.status() if isinstance(server, GuardedTcpServer) else {}
        return {"protocol": self.settings.protocol, "port_connected": server is not None,
                "port_reconnects": self.port_reconnects, **tcp, **self.bank.status()}

    def close(self) -> None:
        self._closing.set()
        self._thread.join(START_TIMEOUT_S)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:  # a failure after start is logged; before, start() re-raises it
            if not self._started.done():
                self._started.set_exception(exc)
            else:
                log.exception("Modbus server stopped")

    async def _serve(self) -> None:
        asyncio.get_running_loop().set_exception_handler(self._on_loop_error)
        try:
            await self._listen()
        except Exception as exc:  # TCP: start() says why in one line; RTU: wait for the port (below)
            if self.settings.protocol != "modbus-rtu":
                raise
            # A missing serial port does not stop the station: the fault is reported (PLC link down:
            # alert, status, doctor) and _watch_port serves the port once it appears.
            self._report(True, f"serial port {self.settings.port} cannot be served ({exc}); waiting for it")
        self._started.set_result(None)
        try:
            while not self._closing.is_set():
                self.bank.tick()
                if self.settings.protocol == "modbus-rtu":
                    await self._watch_port()
                elif isinstance(self._server, GuardedTcpServer):
                    self._server.close_idle()
                await asyncio.sleep(TICK_S)
        finally:
            if self._server is not None:
                await self._server.shutdown()

    async def _listen(self) -> None:
        s = self.settings
        context = _BankContext(self.bank, s.unit_id)
        if s.protocol == "modbus-rtu":
            self._device = _device_of(s.port or "")
            server: ModbusSerialServer | GuardedTcpServer = ModbusSerialServer(
                context, framer=FramerType.RTU, port=s.port or "", baudrate=s.baudrate,
                ignore_missing_devices=True, reconnect_delay=0)
        else:
            server = GuardedTcpServer(context, framer=FramerType.SOCKET, address=(s.host, s.tcp_port),
                                      ignore_missing_devices=True, guard=s.tcp_guard)
        await server.serve_forever(background=True)
        self._server = server

    async def _watch_port(self) -> None:
        """pymodbus does not get a serial port back once the device vanished (USB adapter pulled), so
        the device behind the path is watched: gone -> stop serving (fault); back -> serve it anew."""
        device = _device_of(self.settings.port or "")
        if device == self._device and self._server is not None:
            return
        if self._server is not None:
            # The fault goes out before status() shows the port closed: whoever sees it closed
            # has already been told why.
            self._report(True, f"serial port {self.settings.port} lost")
            await self._server.shutdown()
            self._server = None
            self._retry_s, self._next_try_s = RETRY_MIN_S, 0.0
        now_s = time.monotonic()
        if device is None or now_s < self._next_try_s:
            return
        try:
            await self._listen()
        except Exception as exc:  # device there but not usable yet (udev still setting it up)
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
            self._next_try_s = now_s + self._retry_s
            log.debug("reopening %s failed: %s", self.settings.port, exc)
            return
        self.port_reconnects += 1
        self._report(False, f"serial port {self.settings.port} back")

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        """asyncio's default handler prints a traceback per event: under a connection flood that is
        thousands a second (out of descriptors in accept()). One rate-limited line says the same."""
        self._loop_errors += 1
        if worth_logging(self._loop_errors):
            log.error("Modbus server: %s: %s (%d such errors so far)", context.get("message"),
                      context.get("exception"), self._loop_errors)

    def _report(self, active: bool, reason: str) -> None:
        (log.error if active else log.warning)("Modbus link: %s", reason)
        if self.on_fault is not None:
            self.on_fault(active, reason)


def _device_of(path: str) -> int | None:
    """The device number behind a serial path (following symlinks), None if there is none now."""
    try:
        return os.stat(path).st_rdev
    except OSError:
        return None
