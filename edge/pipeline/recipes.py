"""What the PLC's RECIPE_ID (HR 4) selects per trigger: the model that judges the part and the
thresholds it is judged by.

A `Recipe` is a runner plus a Judge on that runner's model card. Recipe 0 is station.yaml's `model`
section; triggers that carry no recipe (free-run, replay, the ASCII link) use it too. A `RecipeBook` is
everything one inference lane can judge with. It is built once, at start (edge/pipeline/build.py
`open_recipes`: every model loaded, checked against its card and warmed up, once per file), so a
trigger only looks its recipe up in a dict: nothing is loaded, built or allocated per trigger.

Recipes naming the same model file share one runner, hence its preallocated buffers: a lane groups the
crops of a batch by runner and runs each group in turn. `lane()` gives a second inference thread its
own buffers on the same onnxruntime sessions, still one set per model file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from edge.pipeline.judge import Judge

RoiXywh = tuple[int, int, int, int]


class Runner(Protocol):
    """What a lane needs of edge.pipeline.runner.ModelRunner (a test may wrap one to inject faults)."""

    max_batch: int

    def preprocess_into(self, slot: int, image: np.ndarray, roi_xywh: RoiXywh | None = None) -> None: ...

    def infer(self, n: int) -> Any: ...

    def lane(self) -> Runner: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Recipe:
    """One RECIPE_ID: its model (runner) and its thresholds (a Judge on that model's card)."""

    recipe_id: int  # 0 = the model section
    runner: Runner
    judge: Judge
    version: str | None = None  # the registry version of its model (Verdict.model_version), if any


class RecipeBook:
    """The recipes of one lane, by RECIPE_ID; recipe 0 must be among them."""

    def __init__(self, recipes: Iterable[Recipe]) -> None:
        self._by_id = {r.recipe_id: r for r in recipes}
        if 0 not in self._by_id:
            raise ValueError("a RecipeBook needs recipe 0 (the model section)")
        self.default = self._by_id[0]
        # Each runner once (recipes on the same model file share it), in recipe order.
        self.runners: tuple[Runner, ...] = tuple({id(r.runner): r.runner for r in self}.values())
        self.max_batch = min(runner.max_batch for runner in self.runners)

    @classmethod
    def single(cls, runner: Runner, judge: Judge) -> RecipeBook:
        """Recipe 0 only: a station without recipes (any RECIPE_ID but 0 is UNKNOWN_RECIPE)."""
        return cls([Recipe(0, runner, judge)])

    @property
    def ids(self) -> list[int]:
        """The RECIPE_IDs beyond 0, ascending."""
        return sorted(i for i in self._by_id if i != 0)

    def select(self, recipe_id: int | None) -> Recipe | None:
        """The recipe of a trigger's RECIPE_ID: recipe 0 for None or 0, None for an id not in the book."""
        return self._by_id.get(recipe_id or 0)

    def __iter__(self) -> Iterator[Recipe]:
        return iter(self._by_id.values())

    def lane(self) -> RecipeBook:
        """The same recipes for another inference thread: one new lane per runner, shared as before."""
        copies = {id(runner): runner.lane() for runner in self.runners}
        return RecipeBook(replace(r, runner=copies[id(r.runner)]) for r in self)

    def version_of(self, recipe_id: int | None) -> str | None:
        """The model version that judges a RECIPE_ID (None: no registry version, or no such recipe)."""
        recipe = self.select(recipe_id)
        return recipe.version if recipe is not None else None

    def close(self) -> None:
        """Close every runner once."""
        for runner in self.runners:
            runner.close()
