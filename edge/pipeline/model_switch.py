"""Promote and roll back on a running station: the registry's pointer moves and the pipeline judges
with the new model from the next batch on.

Order, so that no verdict is lost or judged by a half-loaded model: (1) the version is read from the
registry, checked (sha256, signature) and loaded, checked against its card and warmed up by `load`
here, on the caller's thread (the console's or a command's), never on an inference thread; (2) the
registry records the move (pointer + history); (3) the pipeline swaps the whole recipe book between
batches (edge/pipeline/books.py). A model that fails (1) changes nothing; one that fails (2) is closed.
Moves are serialised by a lock, so two engineers pressing at once get one after the other.

A station with a PLC link sends the defect class as a number (HR 106, the index in the card's class
names), so a live swap to a model with other classes is refused: the PLC program would misread every
NG. Such a model is promoted offline (`moldpilot models promote`) and judges after a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from edge.errors import ModelError
from edge.pipeline.loop import Pipeline
from edge.pipeline.recipes import RecipeBook
from edge.registry import ModelVersion, Registry

log = logging.getLogger(__name__)

# (action "promoted" | "rolled_back", the version now judging, who): the MQTT alert and status.
OnChange = Callable[[str, str, str], None]


class ModelSwitch:
    def __init__(self, pipeline: Pipeline, registry: Registry, load: Callable[[ModelVersion], RecipeBook],
                 on_change: OnChange | None = None, fixed_classes: bool = False) -> None:
        """`load(version)`: the station's recipe book with that version as recipe 0's model, loaded and
        warmed up (edge/pipeline/build.py `open_recipes`); `fixed_classes`: refuse a model whose class
        names differ from the running one's (a PLC link reads them as numbers)."""
        self.pipeline, self.registry, self.load = pipeline, registry, load
        self.on_change = on_change
        self.fixed_classes = fixed_classes
        self._lock = threading.Lock()

    @property
    def version(self) -> str | None:
        """The version judging recipe 0 now."""
        return self.pipeline.recipes.default.version

    def promote(self, version: str, who: str) -> ModelVersion:
        with self._lock:
            entry = self.registry.get(version)
            return self._switch(entry, lambda: self.registry.promote(version, who), "promoted", who)

    def rollback(self, who: str) -> ModelVersion:
        with self._lock:
            entry = self.registry.rollback_target()
            return self._switch(entry, lambda: self.registry.rollback(who), "rolled_back", who)

    def _switch(self, entry: ModelVersion, record: Callable[[], ModelVersion], action: str,
                who: str) -> ModelVersion:
        running = self.pipeline.recipes.default.judge.class_names
        if self.fixed_classes and list(entry.card.class_names) != list(running):
            raise ModelError(f"{entry.version} has classes {entry.card.class_names} but the running model "
                             f"has {list(running)}: the PLC reads defect classes by number, so it cannot "
                             f"change live; promote it with `moldpilot models promote {entry.version}` and "
                             "restart the station")
        book = self.load(entry)  # off the inference threads: loaded, checked, warmed up
        try:
            recorded = record()
        except BaseException:
            book.close()
            raise
        self.pipeline.swap_recipes(book)
        log.info("model %s %s by %s: it judges from the next batch on", recorded.version, action, who)
        if self.on_change is not None:
            self.on_change(action, recorded.version, who)
        return recorded
