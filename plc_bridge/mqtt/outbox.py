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
supervisor acts on) and every drop is counted, so the caller can raise an alert.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    topic     TEXT    NOT NULL,
    payload   BLOB    NOT NULL,
    qos       INTEGER NOT NULL,
    created_s REAL    NOT NULL,
    rejected  INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True, slots=True)
class OutMessage:
    """A message waiting for the broker. `seq` is the delivery order (0 before it is stored)."""

    topic: str
    payload: bytes
    qos: int = 1
    seq: int = 0
    created_s: float = 0.0


class Outbox:
    """Thread-safe (one connection behind a lock): the sink thread puts, the pump thread reads and acks."""

    def __init__(
        self,
        path: str | Path,
        max_messages: int = 100_000,
        max_age_s: float = 7 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_messages < 1 or max_age_s <= 0:
            raise ValueError(f"outbox bounds must be positive, got {max_messages} messages, {max_age_s} s")
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._size = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self.dropped = 0  # rows removed by the size/age bounds since open (read under no lock: an int)

    def put(self, messages: Sequence[OutMessage]) -> int:
        """Store messages in one transaction; returns how many old rows the size bound dropped."""
        now_s = self._clock()
        rows = [(m.topic, m.payload, m.qos, now_s) for m in messages]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO outbox(topic, payload, qos, created_s) VALUES (?,?,?,?)", rows)
            self._size += len(rows)
            dropped = self._drop_oldest(self._size - self.max_messages)
            self._db.execute("COMMIT")
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
            cur = self._db.execute("DELETE FROM outbox WHERE created_s < ?", (oldest_s,))
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
            self._db.execute("BEGIN")
            cur = self._db.executemany(sql, params)
            self._db.execute("COMMIT")
            if shrinks:
                self._size -= cur.rowcount

    def _drop_oldest(self, count: int) -> int:
        """Inside a transaction, with the lock held."""
        if count <= 0:
            return 0
        cur = self._db.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (count,)
        )
        self._size -= cur.rowcount
        self.dropped += cur.rowcount
        return cur.rowcount
