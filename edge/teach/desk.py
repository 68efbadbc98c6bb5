"""What the console's teach page works with: the jobs, the folders, and the registry's few calls.

`TeachDesk` is handed to the console in `StationHooks.teach`. The registry (edge/registry) is reached
only through the callables here, built from a `Registry` by `registry_desk`; a station without a
registry has no teach page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.teach.jobs import TrainingJobs, add_candidate
from edge.teach.validate import ValidationRunner
from models.dataset import DatasetError, check_counts, scan
from models.operating_point import defects_needed

TARGET_ESCAPE = 0.005  # the trainer's default (moldpilot train --target-escape)


@dataclass
class TeachDesk:
    """`active()` -> (version, model path) judging now; `candidate()` the same for the candidate or None;
    `save_validation(version, record)` / `validation(version)` as the registry's."""

    jobs: TrainingJobs
    dataset: Path  # the labelled parts, in the trainer's layout (the review queue files them here)
    work_dir: Path  # validation outputs: work_dir/validation/<version>/
    active: Callable[[], tuple[str, Path] | None]
    candidate: Callable[[], tuple[str, Path] | None]
    save_validation: Callable[[str, dict], None]
    validation: Callable[[str], dict | None]
    holdout: Path | None = None
    footage: tuple[Path, ...] = ()
    validator: ValidationRunner = field(default_factory=ValidationRunner)

    def validation_dir(self, version: str) -> Path:
        return self.work_dir / "validation" / version

    def train(self, who: str) -> dict[str, Any]:
        """Start a training job on the labelled parts, from the active model's network: it has learnt
        what defects look like, so the new mold needs only a new head (models/start_model.py)."""
        active = self.active()
        return self.jobs.start(self.dataset, who, start_from=None if active is None else active[1])


def registry_desk(registry: Any, dataset: Path, work_dir: Path, holdout: Path | None = None,
                  footage: Sequence[Path] = (), train_args: Sequence[str] = ()) -> TeachDesk:
    """A desk over an edge/registry `Registry` (the API in the shared contract)."""
    def pair(version: Any) -> tuple[str, Path] | None:
        return None if version is None else (version.version, version.path)

    jobs = TrainingJobs(work_dir / "jobs", functools.partial(add_candidate, registry), train_args=train_args)
    return TeachDesk(jobs, dataset, work_dir, lambda: pair(registry.active()),
                     lambda: pair(registry.candidate()), registry.save_validation, registry.validation,
                     holdout, tuple(footage))


def dataset_summary(dataset: Path, target_escape: float = TARGET_ESCAPE) -> dict[str, Any]:
    """Images per class, and the trainer's hint before training: whether it will train at all (its own
    check, models/dataset.py) and how many defect photos could verify the escape target."""
    try:
        data = scan(dataset)
    except DatasetError as exc:
        return {"counts": {}, "trainable": False, "problem": str(exc)}
    counts = data.counts()
    n_defects = sum(n for name, n in counts.items() if name != data.ok_class)
    needed = defects_needed(0.0, target_escape)
    try:
        check_counts(data)
    except DatasetError as exc:
        return {"counts": counts, "trainable": False, "problem": str(exc), "defects": n_defects,
                "defects_to_verify": needed}
    return {"counts": counts, "trainable": True, "problem": None, "defects": n_defects,
            "defects_to_verify": needed, "target_escape": target_escape}
