"""The runtime dies with SIGKILL: its outbox backlog is delivered by the next run; the last will fires."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from plc_bridge.mqtt.outbox import Outbox
from tests.mosquitto import MosquittoBroker, Subscriber

ROOT = "plant1/line3/press07"
WAIT_S = 60.0
CHILD = Path(__file__).with_name("mqtt_child.py")


class Child:
    """tests/plc_bridge/mqtt/mqtt_child.py in its own process; its stdout lines are collected by a thread."""

    def __init__(self, port: int, outbox: Path, first_seq: int, count: int) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen([sys.executable, str(CHILD), str(port), str(outbox), str(first_seq),
                                      str(count)], stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, name="child-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.strip())
                self._cond.notify_all()

    def committed(self) -> int:
        """Highest seq the child reported as committed to its outbox (-1: none yet)."""
        with self._cond:
            done = [int(x.split()[1]) for x in self.lines if x.startswith("committed")]
        return max(done, default=-1)

    def wait_line(self, predicate: object, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout_s)  # type: ignore[arg-type]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def stored_seq(outbox: Path) -> int:
    """Highest result seq ever committed to the outbox (AUTOINCREMENT keeps it after deletes; the child's
    results start at seq 0 = row 1)."""
    with contextlib.closing(sqlite3.connect(outbox)) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    return row[0] - 1


def unique_seqs(sub: Subscriber) -> list[int]:
    """Result seqs in arrival order, redelivered duplicates (same id) dropped as a consumer would."""
    seen: set[str] = set()
    return [d["seq"] for d in sub.json("result") if not (d["id"] in seen or seen.add(d["id"]))]


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def test_runtime_killed_mid_run_delivers_its_backlog_after_restart(
    mosquitto: MosquittoBroker, tmp_path: Path, children: list[Child]
) -> None:
    outbox = tmp_path / "outbox.sqlite"
    sub = Subscriber(mosquitto.port, f"{ROOT}/#")
    try:
        children.append(first := Child(mosquitto.port, outbox, 0, 100_000))
        assert sub.wait_for(lambda s: len(s.json("result")) >= 200, WAIT_S)
        # Freeze the broker so nothing more is acknowledged, let the line run on into the outbox, then
        # kill -9 the runtime: a backlog on disk that the dead process can never deliver.
        mosquitto.pause()
        frozen_at = stored_seq(outbox)  # what was on disk once the broker froze (stdout may lag behind)
        assert first.wait_line(lambda: first.committed() >= frozen_at + 400, WAIT_S)
        first.kill()
        last_committed = first.committed()
        mosquitto.resume()
        backlog = Outbox(outbox)
        assert backlog.backlog() >= 400
        backlog.close()
        assert sub.wait_for(lambda s: s.texts("availability")[-1:] == ["offline"], WAIT_S)  # last will

        children.append(second := Child(mosquitto.port, outbox, 10**9, 0))  # delivers the backlog only
        assert second.wait_line(lambda: "drained" in second.lines, WAIT_S)
        assert sub.wait_for(lambda s: s.texts("availability")[-1:] == ["online"], WAIT_S)
        # everything the dead runtime had committed arrives: in order, each once (by id), no gap
        assert sub.wait_for(lambda s: len(unique_seqs(s)) > last_committed, WAIT_S)
        got = unique_seqs(sub)
        assert got == list(range(len(got)))
    finally:
        sub.close()


def test_availability_is_the_last_will_and_online_again_after_restart(
    mosquitto: MosquittoBroker, tmp_path: Path, children: list[Child]
) -> None:
    sub = Subscriber(mosquitto.port, f"{ROOT}/availability")
    try:
        children.append(first := Child(mosquitto.port, tmp_path / "outbox.sqlite", 0, 4))
        assert first.wait_line(lambda: "drained" in first.lines, WAIT_S)
        assert sub.wait_for(lambda s: s.texts("availability") == ["online"], WAIT_S)
        first.kill()
        assert sub.wait_for(lambda s: s.texts("availability") == ["online", "offline"], WAIT_S)
        children.append(Child(mosquitto.port, tmp_path / "outbox.sqlite", 4, 4))
        assert sub.wait_for(lambda s: s.texts("availability") == ["online", "offline", "online"], WAIT_S)
    finally:
        sub.close()
    late = Subscriber(mosquitto.port, f"{ROOT}/availability", client_id="late-viewer")
    try:  # a dashboard that connects now gets the retained state
        assert late.wait_for(lambda s: s.texts("availability") == ["online"], WAIT_S)
    finally:
        late.close()
