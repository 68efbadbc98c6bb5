"""The recipe books the lanes judge with, swapped whole between batches (a promoted or rolled-back
model, edge/pipeline/model_switch.py), and closed only once no batch uses them.

`LaneBooks` is one book per lane (the first is the pipeline's own, the others its `RecipeBook.lane()`
copies: their own buffers on the same sessions). The pipeline's taker reads `current` once per batch
under its take lock and counts the batch in; the lane counts it out once its verdicts are handed over.
A swap is one reference assignment, never waiting for the take lock (the taker holds it while it waits
for the next trigger); the books it replaces are retired and closed by whoever sees their last batch
out: the swapper at once when none is in flight, else the inference thread that answers it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from edge.pipeline.recipes import RecipeBook


@dataclass(eq=False)
class LaneBooks:
    per_lane: tuple[RecipeBook, ...]
    batches: int = 0  # taken with these books and not yet handed over
    retired: bool = False

    def close(self) -> None:
        for book in self.per_lane:
            book.close()


class BookSwitch:
    def __init__(self, books: LaneBooks) -> None:
        self.current = books
        self._lock = threading.Lock()  # the counters only; held for a few instructions

    def take(self) -> LaneBooks:
        """The books for the batch being taken (call under the pipeline's take lock)."""
        with self._lock:
            books = self.current
            books.batches += 1
        return books

    def release(self, books: LaneBooks) -> None:
        """A batch taken with `books` is handed over; the last one out of retired books closes them."""
        with self._lock:
            books.batches -= 1
            last = books.retired and books.batches == 0
        if last:
            books.close()

    def swap(self, books: LaneBooks) -> LaneBooks:
        """Every batch taken from now on uses `books`; returns the retired ones (closed once idle)."""
        with self._lock:
            old, self.current = self.current, books
            old.retired = True
            idle = old.batches == 0
        if idle:
            old.close()
        return old
