"""A serial port that survives the device vanishing (USB adapter pulled) and coming back.

Only the reading thread reopens: `read()` returns b"" while the port is down and retries the open with
exponential backoff (backoff_min_s doubling up to backoff_max_s); `write()` from any thread returns
False while down instead of raising. `on_state(connected, reason)` reports every change, so the link
can show the fault in its status and raise an alert.

Only the reading thread closes a lost port, too. Whoever finds the port gone (a write from another
thread, or the reader) marks it lost and leaves it open: the reader may be inside `read()` on it that
moment, and closing it under the reader made pyserial fail with TypeError (its fd was None), which
ended the reading thread, so the port was never reopened (a pulled cable under load, CI); worse, the fd
number could already belong to a file another thread opened. The reader's next call closes the lost
port and then reopens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import serial

log = logging.getLogger(__name__)

READ_POLL_S = 0.05


class ReconnectingPort:
    def __init__(
        self,
        path: str,
        baudrate: int = 115200,
        on_state: Callable[[bool, str], None] | None = None,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.path = path
        self.baudrate = baudrate
        self.on_state = on_state
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.reconnects = 0
        self.last_error: str | None = None
        self._serial: serial.Serial | None = None
        self._lost_port: serial.Serial | None = None  # lost, for the reader to close (module docstring)
        self._lock = threading.Lock()  # guards _serial and _lost_port against a write during reopen
        self._closed = threading.Event()
        self._backoff_s = backoff_min_s
        self._ever_open = False

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._serial is not None

    def open(self) -> None:
        """First open. A port that is not there (USB adapter not plugged in yet, wrong path) does not
        stop the station: it is reported down (`on_state(False, ...)`, a link fault the PLC, the
        alerts and `doctor` see) and `read()` keeps trying it, as it does for a port that vanishes."""
        try:
            self._set(serial.Serial(self.path, self.baudrate, timeout=READ_POLL_S, write_timeout=1.0))
        except (serial.SerialException, OSError) as exc:
            self.last_error = f"serial port {self.path} cannot be opened: {exc}"
            log.error("%s; retrying until it can (check plc.port)", self.last_error)
            self._ever_open = True  # its first open from read() is then reported as the link coming up
            if self.on_state is not None:
                self.on_state(False, self.last_error)

    def read(self) -> bytes:
        """What arrived within READ_POLL_S; b"" on timeout, while down, or after close()."""
        with self._lock:
            port, lost, self._lost_port = self._serial, self._lost_port, None
        if lost is not None:
            lost.close()
        if port is None:
            self._reopen()
            return b""
        try:
            data = port.read(1)
            return data + port.read(port.in_waiting) if data else data
        except (serial.SerialException, OSError) as exc:
            self._lost(port, exc)
            return b""

    def write(self, data: bytes) -> bool:
        with self._lock:
            port = self._serial
            if port is None:
                return False
            try:
                port.write(data)
                return True
            except (serial.SerialException, OSError) as exc:
                error = exc
        self._lost(port, error)
        return False

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            ports, self._serial, self._lost_port = (self._serial, self._lost_port), None, None
        for port in ports:
            if port is not None:
                port.close()

    def _set(self, port: serial.Serial) -> None:
        with self._lock:
            if self._closed.is_set():  # close() ran while this open was in progress
                port.close()
                return
            self._serial = port
        self._backoff_s = self.backoff_min_s
        if self._ever_open:
            self.reconnects += 1
            log.warning("serial port %s is back (reconnect %d)", self.path, self.reconnects)
            if self.on_state is not None:
                self.on_state(True, f"serial port {self.path} reconnected")
        self._ever_open = True

    def _lost(self, port: serial.Serial, exc: BaseException) -> None:
        """Mark `port` lost (the reader's next `read()` closes it) and report it, once."""
        with self._lock:
            if self._serial is not port:  # another thread already noticed
                return
            self._serial, self._lost_port = None, port
        self.last_error = f"serial port {self.path} lost: {exc}"
        log.error("%s; reconnecting", self.last_error)
        if self.on_state is not None:
            self.on_state(False, self.last_error)

    def _reopen(self) -> None:
        if self._closed.wait(self._backoff_s):
            return
        try:
            self._set(serial.Serial(self.path, self.baudrate, timeout=READ_POLL_S, write_timeout=1.0))
        except (serial.SerialException, OSError) as exc:
            self._backoff_s = min(self._backoff_s * 2, self.backoff_max_s)
            log.debug("reopen %s failed: %s (next try in %.1f s)", self.path, exc, self._backoff_s)
