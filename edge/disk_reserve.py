"""One free-space rule for everything the station writes to its disk: NG evidence, JSONL, MQTT outbox.

Every writer keeps `min_free_mb` free (storage.min_free_mb). When the disk runs short, what goes first
is fixed: NG evidence (the store stops saving, then gives up its oldest sets), then old JSONL files
(rotated ones, never the file being written), and never a result that has not reached the broker: the
outbox may write into the reserve, which is kept for it, after asking the others to make room.

The reserve decides and keeps the tally of losses (`count_lost`), which the MQTT sink turns into the
DISK_LOW alert and the retained status. `low()` turns true
below `warn_free_mb`, before the disk is full, so the supervisors are alerted while there is time.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.config import StationConfig, StorageSection

log = logging.getLogger(__name__)

BYTES_PER_MB = 1024 * 1024

Reclaimer = Callable[[int], int]  # frees up to n bytes of its own, returns how many it freed
# Who gives up space first when the disk runs short; the outbox is not here: it never gives way.
NG_STORE, JSONL, OUTBOX = "ng_store", "jsonl", "mqtt_outbox"
GIVE_WAY_ORDER = (NG_STORE, JSONL)


@dataclass(frozen=True, slots=True)
class DiskState:
    free_mb: float
    low: bool  # under warn_free_mb: alert now, before writes fail
    short: bool  # under min_free_mb: evidence and JSONL are no longer stored
    lost: dict[str, int]  # writer -> items not stored for want of space (sets, lines, messages)


class DiskReserve:
    """Thread-safe: the NG store, JSONL and MQTT sinks each ask from their own thread."""

    def __init__(self, path: str | Path, min_free_mb: float, warn_free_mb: float,
                 free_bytes: Callable[[Path], int] | None = None) -> None:
        if not 0 <= min_free_mb <= warn_free_mb:
            raise ValueError(f"need 0 <= min_free_mb <= warn_free_mb, got {min_free_mb}, {warn_free_mb}")
        self.path = Path(path)
        self.min_free_bytes = int(min_free_mb * BYTES_PER_MB)
        self.warn_free_bytes = int(warn_free_mb * BYTES_PER_MB)
        self._free_bytes = free_bytes or (lambda p: shutil.disk_usage(p).free)
        self._lock = threading.Lock()
        self._reclaimers: dict[str, Reclaimer] = {}
        self._lost: dict[str, int] = {}

    def give_way(self, name: str, reclaim: Reclaimer) -> None:
        """Register a writer (one of GIVE_WAY_ORDER) that can free its own old files."""
        if name not in GIVE_WAY_ORDER:
            raise ValueError(f"{name!r} is not one of {GIVE_WAY_ORDER}")
        with self._lock:
            self._reclaimers[name] = reclaim

    def allows(self, writer: str, size_bytes: int) -> bool:
        """Whether `writer` may write size_bytes and keep the reserve; writers that give way before it
        are asked to make room first (JSONL may take the evidence's space, not the other way round)."""
        if self.free() - size_bytes >= self.min_free_bytes:
            return True
        self._reclaim(size_bytes, GIVE_WAY_ORDER[:GIVE_WAY_ORDER.index(writer)])
        return self.free() - size_bytes >= self.min_free_bytes

    def make_room(self, size_bytes: int) -> None:
        """For the outbox: every other writer gives way in turn; the write then goes ahead regardless."""
        if self.free() - size_bytes < self.min_free_bytes:
            self._reclaim(size_bytes, GIVE_WAY_ORDER)

    def count_lost(self, writer: str, n: int) -> None:
        """A writer could not store n items for want of space: counted here for the alert and status."""
        with self._lock:
            self._lost[writer] = self._lost.get(writer, 0) + n

    def state(self) -> DiskState:
        free = self.free()
        with self._lock:
            lost = dict(self._lost)
        return DiskState(round(free / BYTES_PER_MB, 1), free < self.warn_free_bytes,
                         free < self.min_free_bytes, lost)

    def free(self) -> int:
        path = next(p for p in (self.path, *self.path.parents) if p.exists())  # "/" always exists
        return self._free_bytes(path)

    def _reclaim(self, size_bytes: int, names: tuple[str, ...]) -> None:
        with self._lock:
            reclaimers = [(n, self._reclaimers[n]) for n in names if n in self._reclaimers]
        for name, reclaim in reclaimers:
            missing = self.min_free_bytes + size_bytes - self.free()
            if missing <= 0:
                return
            freed = reclaim(missing)
            if freed:
                log.warning("disk short under %s: %s gave up %.1f MB", self.path, name, freed / BYTES_PER_MB)


def disk_reserve(config: StationConfig) -> DiskReserve | None:
    """The station's reserve, on the disk of its NG store (or its outbox); None with neither section."""
    if config.storage is not None:
        s = config.storage
        return DiskReserve(s.ng_dir, s.min_free_mb, s.warn_free_mb)
    if config.mqtt is not None:
        defaults = StorageSection()
        return DiskReserve(Path(config.mqtt.outbox).parent, defaults.min_free_mb, defaults.warn_free_mb)
    return None
