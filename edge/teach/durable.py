"""Writes that survive a crash: a whole file appears under its name or not at all, and an appended line
is on the disk when the call returns.

`write_atomic` writes `.<name>.tmp` beside the target, fsyncs it, renames it over the target and fsyncs
the folder (the rename itself is then durable). A crash leaves at most a `.*.tmp` file, which
`remove_tmp` clears at the next start. `append_line` appends one text line and fsyncs; a crash in the
middle of a write can only leave a last line without its newline, which `drop_torn_tail` cuts off.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TMP_SUFFIX = ".tmp"


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def write_atomic(path: Path, data: bytes) -> None:
    tmp = tmp_path(path)
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_tmp(folder: Path) -> int:
    """Delete the half-written `.*.tmp` files a crash left in `folder`; how many there were."""
    removed = 0
    for path in folder.glob(f".*{TMP_SUFFIX}"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def append_line(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8", newline="") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())


def drop_torn_tail(path: Path) -> bool:
    """Cut a last line that lacks its newline (a write cut short); True if one was cut."""
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    with open(path, "r+b") as f:
        f.truncate(data.rfind(b"\n") + 1)
        f.flush()
        os.fsync(f.fileno())
    return True
