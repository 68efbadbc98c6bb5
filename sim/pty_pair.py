"""A null-modem cable made of pseudo-terminals: two ordinary serial device paths, bridged.

pymodbus and pyserial open a device *path*, on both ends (the runtime's Modbus slave and the virtual
PLC's master), so one pty pair is not enough: its master side is a bare fd. `PtyCable` makes two pty
pairs and forwards bytes master <-> master on two named threads (one per direction, so both can talk
at once). Each end sees a stable symlink (`<dir>/runtime`, `<dir>/plc`), as /dev/serial/by-id does.

- `baudrate`: forwarding is paced to what a real 8N1 line carries (10 bits per byte); a pty alone moves
  bytes at memory speed and would flatter every latency number. None = unpaced.
- `unplug()` closes the ptys (both ends see the device vanish: EIO / hangup), `replug()` makes new
  ptys and repoints the symlinks, as when a USB-serial adapter is pulled and plugged back.
- Bytes written while nobody reads pile up in the kernel buffer; when it is full they are dropped and
  counted, as a UART with nothing listening loses them (a blocked forwarder would hang the cable).
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from pathlib import Path

POLL_S = 0.05  # forwarders look at their stop flag this often
CHUNK_BYTES = 256
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


class _Pty:
    def __init__(self) -> None:
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)  # no echo, no line editing, before anyone opens the path
        os.set_blocking(self.master_fd, False)
        self.path = os.ttyname(self.slave_fd)  # kept open by us: an opener closing causes no hangup

    def close(self) -> None:
        os.close(self.master_fd)
        os.close(self.slave_fd)


class PtyCable:
    def __init__(self, link_dir: str | Path, baudrate: int | None = 115200) -> None:
        self.link_dir = Path(link_dir)
        self.runtime_path = self.link_dir / "runtime"
        self.plc_path = self.link_dir / "plc"
        self.baudrate = baudrate
        self.dropped_bytes = 0
        self._ptys: tuple[_Pty, _Pty] | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> PtyCable:
        self.plug()
        return self

    def __exit__(self, *_: object) -> None:
        self.unplug()

    def plug(self) -> None:
        """Create the ptys, point the symlinks at them and start forwarding."""
        if self._ptys is not None:
            raise RuntimeError("cable already plugged")
        self.link_dir.mkdir(parents=True, exist_ok=True)
        runtime, plc = _Pty(), _Pty()
        self._ptys = (runtime, plc)
        _repoint(self.runtime_path, runtime.path)
        _repoint(self.plc_path, plc.path)
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._forward, args=(runtime.master_fd, plc.master_fd),
                             name="pty-runtime-to-plc", daemon=True),
            threading.Thread(target=self._forward, args=(plc.master_fd, runtime.master_fd),
                             name="pty-plc-to-runtime", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    replug = plug

    def unplug(self) -> None:
        """Pull the cable: stop forwarding and close the ptys; the symlinks dangle until `replug`."""
        if self._ptys is None:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for pty in self._ptys:
            pty.close()
        self._ptys = None

    def _forward(self, src_fd: int, dst_fd: int) -> None:
        wire_free_s = 0.0  # when the last byte sent so far has fully left the (virtual) wire
        while not self._stop.is_set():
            readable, _, _ = select.select([src_fd], [], [], POLL_S)
            if not readable:
                continue
            try:
                chunk = os.read(src_fd, CHUNK_BYTES)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # EIO: no process holds the slave open right now
                self._stop.wait(POLL_S)
                continue
            if self.baudrate:
                wire_free_s = max(time.monotonic(), wire_free_s) + len(chunk) * BITS_PER_BYTE / self.baudrate
                delay_s = wire_free_s - time.monotonic()
                if delay_s > 0:
                    time.sleep(delay_s)  # the wire time of this chunk, not a guess
            try:
                os.write(dst_fd, chunk)
            except BlockingIOError:
                self.dropped_bytes += len(chunk)


def _repoint(link: Path, target: str) -> None:
    """Atomically (re)point a symlink, so an opener never sees it missing."""
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
