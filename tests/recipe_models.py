"""For the recipe tests: a station.yaml with recipes, a second tiny model that judges the parts of
`write_solid_images` differently from the default one, and what a model says of images when run
directly (the expected verdicts)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import cv2

from edge.config import StationConfig, load_config
from edge.pipeline.judge import Judge
from edge.pipeline.runner import ModelRunner

# build_tiny_graph arguments of model B: another graph than the default tiny model, another input
# size and another class list (defect_0 and defect_1 are its own). On write_solid_images it passes
# some parts the default model rejects.
MODEL_B = {"seed": 3, "size": 32, "n_classes": 6}


def recipe_config(folder: Path, model: str | Path, recipes: str, threads: int = 0) -> StationConfig:
    """station.yaml in `folder` with the given model path, intra-op `threads` and `recipes:` (YAML flow
    mapping), loaded."""
    path = folder / "station.yaml"
    path.write_text(
        "station: {site: s, line: l, name: n}\n"
        "source: {kind: folder, uri: images, mode: triggered}\n"
        f"model: {{path: {model}, threads: {threads}}}\n"
        f"recipes: {recipes}\n",
        encoding="utf-8",
    )
    return load_config(path)


class Said(NamedTuple):
    p_defect: float
    defect_index: int  # into the model card's class_names (DEFECT_CLASS at the PLC when NG)
    defect: str


def model_says(model: Path, images: list[Path]) -> list[Said]:
    """P(defect) and the most likely defect class per image, from the model run directly."""
    runner = ModelRunner(model, warm_up=False)
    judge = Judge.from_card(runner.card, 1e9)
    said = []
    for image in images:
        runner.preprocess_into(0, cv2.imread(str(image)))
        scores = judge.score(runner.infer(1).probs)
        index = int(scores.defect_index[0])
        said.append(Said(float(scores.p_defect[0]), index, runner.card.class_names[index]))
    runner.close()
    return said
