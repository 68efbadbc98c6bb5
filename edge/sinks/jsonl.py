"""JSONL sink: one line per verdict (Verdict.to_json), appended to a file, flushed after each trigger so
`tail -f` shows results as they happen and a crash loses at most the trigger being written.

On a station (`moldpilot run`) the sink shares the disk reserve (edge/disk_reserve.py): a trigger whose
lines would break it is not written (counted as skipped and as a loss in the reserve's tally), after
the NG store was asked to give up its evidence first. With `rotate_mb` the file is renamed to
`<stem>.<stamp><suffix>` once it is that large, and those rotated files are the "old JSONL" that gives
way to the MQTT outbox; only names of that exact shape are ever deleted, never the live file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

from edge.disk_reserve import BYTES_PER_MB, JSONL, DiskReserve
from edge.verdict import Verdict
from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)

STAMP_FORMAT = "%Y%m%dT%H%M%S%f"  # sorts lexically in time order


class JsonlSink:
    wants_evidence = False

    def __init__(self, path: str | Path, name: str = "jsonl", reserve: DiskReserve | None = None,
                 rotate_mb: float | None = None) -> None:
        self.path = Path(path)
        self.name = name
        self.reserve = reserve
        self.rotate_bytes = int(rotate_mb * BYTES_PER_MB) if rotate_mb else None
        self.skipped_lines = 0
        stem, suffix = re.escape(self.path.stem), re.escape(self.path.suffix)
        self._rotated = re.compile(rf"^{stem}\.\d{{8}}T\d{{12}}{suffix}$")
        self._file: IO[str] | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        if self.reserve is not None and self.rotate_bytes is not None:
            self.reserve.give_way(JSONL, self.give_up)

    def write(self, verdicts: Sequence[Verdict]) -> int:
        """Returns how many verdicts were not written for want of disk space."""
        assert self._file is not None, "JsonlSink.open() was not called"
        text = "".join(v.to_json() + "\n" for v in verdicts)
        if self.reserve is not None and not self.reserve.allows(JSONL, len(text.encode())):
            return self._skip(len(verdicts), "disk reserve reached")
        start = self._file.tell()
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            self._reopen(start)
            return self._skip(len(verdicts), "disk full")
        if self.rotate_bytes is not None and self._file.tell() >= self.rotate_bytes:
            self._rotate()
        return 0

    def give_up(self, needed_bytes: int) -> int:
        """Delete the oldest rotated files until needed_bytes are freed; returns the bytes freed. Their
        lines count as lost in the reserve's tally (gone from this disk, if not from the broker)."""
        freed = lines = 0
        for old in sorted(p for p in self.path.parent.iterdir() if self._rotated.match(p.name)):
            if freed >= needed_bytes:
                break
            with old.open("rb") as f:
                lines += sum(1 for _ in f)
            freed += old.stat().st_size
            old.unlink()
        if lines and self.reserve is not None:
            self.reserve.count_lost(JSONL, lines)  # results the station no longer has on disk
        return freed

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _skip(self, count: int, why: str) -> int:
        self.skipped_lines += count
        if self.reserve is not None:
            self.reserve.count_lost(JSONL, count)
        if worth_logging(self.skipped_lines):
            log.warning("%s under %s: %d verdict line(s) not written to %s so far", why, self.path.parent,
                        self.skipped_lines, self.path.name)
        return count

    def _rotate(self) -> None:
        self.close()
        stamp = datetime.now().strftime(STAMP_FORMAT)
        self.path.rename(self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}"))
        self._file = self.path.open("a", encoding="utf-8")

    def _reopen(self, good_bytes: int) -> None:
        """After a failed write: drop the buffered rest and cut a torn line, so the file stays whole."""
        assert self._file is not None
        with contextlib.suppress(OSError):  # close flushes the same buffer into the same full disk
            self._file.close()
        os.truncate(self.path, good_bytes)
        self._file = self.path.open("a", encoding="utf-8")
