"""The reconnecting serial port over a real pty cable: a write from another thread that finds the
cable pulled must not close the port under the reading thread (it reopens the port, and it must live
to do so)."""

from __future__ import annotations

import threading
from pathlib import Path

from plc_bridge.serial_port import ReconnectingPort
from sim.pty_pair import PtyCable
from tests.waiting import wait_until

PULLS = 15


def test_writes_into_a_pulled_cable_leave_the_reader_to_reopen(tmp_path: Path) -> None:
    with PtyCable(tmp_path / "tty") as cable:
        port = ReconnectingPort(str(cable.runtime_path), backoff_min_s=0.02, backoff_max_s=0.1)
        port.open()
        stop, errors = threading.Event(), []

        def reader() -> None:
            try:
                while not stop.is_set():
                    port.read()
            except BaseException as exc:  # the thread's end, handed to the test
                errors.append(exc)

        thread = threading.Thread(target=reader, name="test-serial-reader", daemon=True)
        thread.start()
        try:
            for _ in range(PULLS):
                cable.unplug()
                # the writer races the reader to notice: whoever wins, the reader must survive it
                wait_until(lambda: not port.write(b"\x00" * 64), "a write that finds the cable pulled")
                cable.replug()
                wait_until(lambda: port.connected or errors, "the port reopened by its reader", 10)
                assert not errors, errors
        finally:
            stop.set()
            thread.join(5)
            port.close()
        assert port.reconnects == PULLS
