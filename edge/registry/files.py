"""Writes that survive a SIGKILL or a power cut at any instant: a file is either the old one or the new
one, never half of either (`write_atomic`), and a history line is either whole or absent
(`append_line`: one write of the whole line, fsynced; a torn last line is skipped by its reader)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text`: a temp file in the same folder, fsynced, renamed over it, and the
    folder fsynced so the rename itself is on disk."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    sync_folder(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one line (no newline inside) with a single write, then fsync."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
