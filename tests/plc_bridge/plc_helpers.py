"""Test helpers for the PLC links: a stand-in verdict producer that answers every trigger from its own
thread, as the pipeline would, but in microseconds."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from plc_bridge.link import PlcResult


def verdict_for(part_id: int) -> tuple[int, int, int]:
    """Deterministic (verdict_code, defect_class_code, cavity_ng_mask) per part id."""
    ng = part_id % 7 == 0
    return (2, 3, 0b0101) if ng else (1, 0, 0)


class StandInProducer:
    """Triggers in (from the link's thread), results out (to `post`) from a named worker thread."""

    def __init__(self, post: Callable[[PlcResult], None] | None = None) -> None:
        self.post = post
        self.triggers: list[tuple[int, int]] = []
        self._queue: queue.Queue[tuple[int, int] | None] = queue.Queue(256)
        self._thread = threading.Thread(target=self._run, name="stand-in-producer", daemon=True)
        self._thread.start()

    def on_trigger(self, seq: int, part_id: int, shot: int | None, recipe_id: int | None) -> None:
        self.triggers.append((seq, part_id))
        self._queue.put_nowait((seq, part_id))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            seq, part_id = item
            verdict, defect, mask = verdict_for(part_id)
            assert self.post is not None
            self.post(PlcResult(seq, part_id, verdict, defect, 900 if verdict == 2 else 10, 0, mask, 1))
