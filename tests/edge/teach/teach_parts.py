"""What the teach tests share: datasets and footage of the new mold (the simulator's bezel, which the
shipped model has never seen), a small model trained on it by the real trainer, and a desk over a
real registry (edge/registry) whose active version is the shipped model.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.commands.replay_cmd import default_model
from edge.registry import Registry
from edge.teach.desk import TeachDesk, registry_desk
from sim.dataset import write_dataset
from sim.footage import FootageSettings, write_footage

SHIPPED = default_model()
MOLD = 7  # the bezel mold of these tests: one design and resin colour, as on a line
FAST_TRAIN = ("--size", "160")  # one input size: the trainer's own fixed setting, no size search
MIN_PER_CLASS = 6  # the trainer needs 5 per class; a class the sample drew fewer of is left out


def bezel_dataset(folder: Path, count: int, seed: int, keep: set[str] | None = None,
                  min_per_class: int = MIN_PER_CLASS) -> Path:
    """`count` crops of the bezel mold in the trainer's layout; classes with fewer than `min_per_class`
    images (or not in `keep`: a hold-out of the classes a model knows) are removed, as an engineer would
    before training."""
    counts = write_dataset(folder, count, seed, 160, 0.5, "bezel", mold=MOLD)
    for name, n in counts.items():
        if name != "ok" and (n < min_per_class or (keep is not None and name not in keep)):
            shutil.rmtree(folder / name)
    return folder


def bezel_footage(path: Path, shots: int, seed: int) -> Path:
    write_footage(path, FootageSettings(shots=shots, seed=seed, cavities=4, shape="bezel", defect_rate=0.3))
    return path


def train_cli(dataset: Path, out: Path) -> dict[str, Any]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["train", str(dataset), "--out", str(out), "--json", *FAST_TRAIN]) == 0
    return json.loads(stdout.getvalue())


def make_desk(tmp_path: Path, dataset: Path, holdout: Path | None = None,
              footage: tuple[Path, ...] = ()) -> TeachDesk:
    """A desk over a real registry in tmp_path whose active version (v1) is the shipped model."""
    registry = Registry(tmp_path / "registry")
    registry.promote(registry.add(SHIPPED, "test", "shipped").version, "test")
    return registry_desk(registry, dataset, tmp_path / "work", holdout, footage, FAST_TRAIN)


# -- fixtures (imported by tests/edge/teach/conftest.py and the console's teach test) --


@pytest.fixture(scope="session")
def bezel_train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 40 good parts and defect classes of 6+ images each, of the bezel mold."""
    return bezel_dataset(tmp_path_factory.mktemp("bezel-train"), 90, seed=5)


@pytest.fixture(scope="session")
def bezel_model(tmp_path_factory: pytest.TempPathFactory, bezel_train: Path) -> Path:
    """A model trained on bezel_train by `moldpilot train` (fast settings)."""
    out = tmp_path_factory.mktemp("bezel-model") / "bezel.onnx"
    train_cli(bezel_train, out)
    return out


@pytest.fixture(scope="session")
def bezel_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four shots x four cavities of the bezel mold, with ground truth."""
    return bezel_footage(tmp_path_factory.mktemp("bezel-footage") / "line.avi", 4, seed=31)
