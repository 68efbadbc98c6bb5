"""Durable outbox: every result and alert is on disk before it is handed to the MQTT client.

A row leaves the outbox only when the broker acknowledged it with a success reason code (`ack`), so a
broker outage or a `kill -9` of the runtime loses nothing: the next run publishes the backlog in `seq`
order. A message the broker refused (e.g. an ACL-denied publish) is marked `rejected` and kept for a
person to look at; it is never counted as delivered and never retried (retrying cannot fix an ACL).

SQLite in WAL mode with `synchronous=NORMAL`: a commit is an append to the WAL without an fsync, which
survives a killed process (the OS holds the pages) but not a power cut of the edge PC; that is the trade
that lets one commit per trigger keep up with thousands of messages per second. Writes are batched by
the callers: `put` takes all messages of one trigger, `ack` all acknowledgements seen in one pump cycle.

Bounded by `max_messages` and `max_age_s`; overflow drops the OLDEST rows (the newest results are what a
supervisor acts on), results before the rows marked `keep` (alerts: they say what was lost, so they
must outlive the results), and every drop is counted, so the caller can raise an alert.

Disk space: `make_room(bytes)` (if given) is called before each write so other writers can give way
(edge/disk_reserve.py); a write the disk still cannot take (SQLite "database or disk is full") is not
raised: its messages are counted in `lost` and logged, one line, 1st and every 100th time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    topic     TEXT    NOT NULL,
    payload   BLOB    NOT NULL,
    qos       INTEGER NOT NULL,
    created_s REAL    NOT NULL,
    rejected  INTEGER NOT NULL DEFAULT 0,
    keep      INTEGER NOT NULL DEFAULT 0
);
"""
WAL_PAGES = 256
WAL_LIMIT_BYTES = 1024 * 1024
PAGE_BYTES = 4096  # SQLite's default page size: what one commit appends to the WAL, at least
_ADD_KEEP = "ALTER TABLE outbox ADD COLUMN keep INTEGER NOT NULL DEFAULT 0"  # outboxes from before it


@dataclass(frozen=True, slots=True)
class OutMessage:
    """A message waiting for the broker. `seq` is the delivery order (0 before it is stored)."""

    topic: str
    payload: bytes
    qos: int = 1
    seq: int = 0
    created_s: float = 0.0
    keep: bool = False  # dropped by the size bound only after every row without it


class Outbox:
    """Thread-safe (one connection behind a lock): the sink thread puts, the pump thread reads and acks."""

    def __init__(
        self,
        path: str | Path,
        max_messages: int = 100_000,
        max_age_s: float = 7 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
        make_room: Callable[[int], None] | None = None,
    ) -> None:
        if max_messages < 1 or max_age_s <= 0:
            raise ValueError(f"outbox bounds must be positive, got {max_messages} messages, {max_age_s} s")
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self._clock = clock
        self._make_room = make_room
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # The WAL is checkpointed every WAL_PAGES pages and cut back to WAL_LIMIT_BYTES, so on a small
        # disk it does not sit on megabytes it no longer needs (SQLite's default: 4 MB, never cut).
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        self._db.executescript(_SCHEMA)
        if "keep" not in {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}:
            self._db.execute(_ADD_KEEP)
        self._size = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self.dropped = 0  # rows removed by the size/age bounds since open (read under no lock: an int)
        self.lost = 0  # messages the disk could not take since open
        self._failed_writes = 0  # puts, acks and prunes the disk refused (for the log's rate limit)

    def put(self, messages: Sequence[OutMessage]) -> int:
        """Store messages in one transaction; returns how many old rows the size bound dropped."""
        now_s = self._clock()
        rows = [(m.topic, m.payload, m.qos, now_s, int(m.keep)) for m in messages]
        if self._make_room is not None:
            # a commit appends whole pages to the WAL: the rows, the table's leaf and its parent
            self._make_room(sum(len(m.payload) + len(m.topic) for m in messages) + 3 * PAGE_BYTES)
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO outbox(topic, payload, qos, created_s, keep) VALUES (?,?,?,?,?)", rows)
                dropped = self._drop_oldest(self._size + len(rows) - self.max_messages)
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:  # disk full, or I/O error on a dying disk
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._count_lost(len(rows), exc)
                return 0
            self._size += len(rows) - dropped
            self.dropped += dropped
        return dropped

    def pending(self, after_seq: int, limit: int) -> list[OutMessage]:
        """Up to `limit` deliverable rows with seq > after_seq, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, created_s FROM outbox"
                " WHERE seq > ? AND rejected = 0 ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutMessage(topic, bytes(body), qos, seq, created) for seq, topic, body, qos, created in rows]

    def ack(self, seqs: Iterable[int]) -> None:
        """The broker has them: delete (one transaction for the whole batch)."""
        self._update("DELETE FROM outbox WHERE seq = ?", seqs, shrinks=True)

    def reject(self, seqs: Iterable[int]) -> None:
        """The broker refused them: keep for inspection, never publish again."""
        self._update("UPDATE outbox SET rejected = 1 WHERE seq = ?", seqs, shrinks=False)

    def prune(self) -> int:
        """Drop rows older than max_age_s; returns how many."""
        with self._lock:
            oldest_s = self._clock() - self.max_age_s
            try:
                cur = self._db.execute("DELETE FROM outbox WHERE created_s < ?", (oldest_s,))
            except sqlite3.OperationalError as exc:
                self._count_lost(0, exc)
                return 0
            self._size -= cur.rowcount
            self.dropped += cur.rowcount
            return cur.rowcount

    def backlog(self) -> int:
        """Rows still waiting for the broker (rejected rows excluded)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE rejected = 0").fetchone()[0]

    def rejected(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE rejected = 1").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _update(self, sql: str, seqs: Iterable[int], shrinks: bool) -> None:
        params = [(s,) for s in seqs]
        if not params:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN")
                cur = self._db.executemany(sql, params)
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:  # disk full: the rows stay and are sent again later
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._count_lost(0, exc)
                return
            if shrinks:
                self._size -= cur.rowcount

    def _drop_oldest(self, count: int) -> int:
        """Inside a transaction, with the lock held; the caller counts them once the commit holds."""
        if count <= 0:
            return 0
        cur = self._db.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY keep, seq LIMIT ?)", (count,)
        )
        return cur.rowcount

    def _count_lost(self, count: int, exc: Exception) -> None:
        self.lost += count
        self._failed_writes += 1
        if worth_logging(self._failed_writes):
            log.error("MQTT outbox %s: write refused (%s); %d message(s) lost so far", self.path, exc,
                      self.lost)
