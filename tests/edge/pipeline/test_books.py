"""Recipe books swapped between batches (edge/pipeline/books.py), on real tiny ONNX runners: the books
a batch was taken with stay open until that batch is handed over, then close; new batches get the new
books at once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edge.pipeline.books import BookSwitch, LaneBooks
from edge.pipeline.judge import Judge
from edge.pipeline.recipes import RecipeBook
from edge.pipeline.runner import ModelRunner


def _books(model: Path, version: str) -> LaneBooks:
    runner = ModelRunner(model)
    book = RecipeBook.single(runner, Judge.from_card(runner.card, 500.0))
    return LaneBooks((RecipeBook(replace(r, version=version) for r in book),))


def test_old_books_close_only_after_their_last_batch(tiny_model: Path) -> None:
    switch = BookSwitch(_books(tiny_model, "v1"))
    in_flight = switch.take()  # a batch taken with v1
    old = switch.swap(_books(tiny_model, "v2"))
    assert old is in_flight and old.retired
    assert old.per_lane[0].default.runner.session is not None  # type: ignore[attr-defined]
    taken = switch.take()
    assert taken.per_lane[0].version_of(0) == "v2"
    switch.release(in_flight)  # v1's last batch handed over: now it closes
    assert old.per_lane[0].default.runner.session is None  # type: ignore[attr-defined]
    switch.release(taken)
    assert taken.per_lane[0].default.runner.session is not None  # type: ignore[attr-defined]


def test_idle_books_close_at_the_swap(tiny_model: Path) -> None:
    switch = BookSwitch(_books(tiny_model, "v1"))
    old = switch.swap(_books(tiny_model, "v2"))
    assert old.per_lane[0].default.runner.session is None  # type: ignore[attr-defined]
