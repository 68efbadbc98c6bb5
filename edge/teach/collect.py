"""Collect: file the next N parts of chosen cavities straight into the dataset, for a new mold.

"Collect good parts" files them under the ok class, "collect this defect <class>" under that defect
class, whatever the model said: the engineer who starts a run knows what the press is making (a new
mold of good parts, or parts made with a defect on purpose). Each part goes through the review queue
(its crop, overlay and record, so a crash is reconciled like any label) and the labels writer, with
`who` = the engineer who started the run and answer `collect`.

While a run is on, the pipeline copies the crop of every part of the chosen cavities, OK ones too
(`wants(cavity)`, read by the inference thread without a lock: one reference read). A part without a
picture (no frame) is not counted. One run at a time; `stop()` ends it early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from edge.teach.labels import LabelError, Labels
from edge.verdict import Verdict

REVIEW_KIND = "collect"


@dataclass(frozen=True)
class CollectRun:
    label: str  # the class every part is filed under
    count: int  # parts to file
    cavities: frozenset[int] | None  # None: every cavity
    who: str
    started: str  # ISO time
    filed: int = 0
    stopped: bool = False

    @property
    def done(self) -> bool:
        return self.stopped or self.filed >= self.count


class Collector:
    def __init__(self, labels: Labels, default_version: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now().astimezone()) -> None:
        self.labels = labels
        self.default_version = default_version
        self._clock = clock
        self._lock = threading.Lock()
        self._run: CollectRun | None = None  # replaced whole, never changed in place

    def start(self, label: str, count: int, cavities: frozenset[int] | None, who: str) -> CollectRun:
        """A new run (it replaces one that is on). LabelError for an unknown class or count < 1."""
        if label not in self.labels.class_names:
            raise LabelError("unknown_class", f"{label!r} is not a class of the model "
                                              f"({', '.join(self.labels.class_names)})")
        if count < 1:
            raise LabelError("bad_count", f"collect at least 1 part, got {count}")
        run = CollectRun(label, count, cavities or None, who, self._clock().isoformat(timespec="seconds"))
        with self._lock:
            self._run = run
        return run

    def stop(self) -> CollectRun | None:
        with self._lock:
            if self._run is not None and not self._run.done:
                self._run = replace(self._run, stopped=True)
            return self._run

    def wants(self, cavity: int) -> bool:
        """Whether the pipeline should copy the pictures of this cavity's parts (lock-free)."""
        run = self._run
        return run is not None and not run.done and (run.cavities is None or cavity in run.cavities)

    def take(self, verdict: Verdict) -> bool:
        """On the sink thread: file the part if the run wants it; True when it was filed."""
        if verdict.evidence is None or not self.wants(verdict.cavity):
            return False
        run = self._run
        assert run is not None
        item_id = self.labels.queue.add({**review_record(verdict, self.default_version), "kind": REVIEW_KIND},
                                        verdict.evidence.crop_bgr, verdict.evidence.heatmap)
        if item_id is None:
            return False
        self.labels.file(item_id, "collect", run.who, run.label)
        with self._lock:
            if self._run is run:
                self._run = replace(run, filed=run.filed + 1)
        return True

    def progress(self) -> dict[str, Any] | None:
        run = self._run
        if run is None:
            return None
        out = asdict(run)
        out["cavities"] = sorted(run.cavities) if run.cavities else None
        return {**out, "done": run.done}


def review_record(verdict: Verdict, default_version: str | None) -> dict[str, Any]:
    """What the queue keeps of a verdict: its JSON plus the model version that judged it
    (`Verdict.model_version` where the registry sets it, else `default_version`: the station's model)."""
    record = verdict.to_dict()
    record["model_version"] = record.get("model_version") or getattr(verdict, "model_version", None) \
        or default_version
    return record
