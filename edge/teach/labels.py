"""Labels: a person's answer on a queued part files its crop into the dataset, durably and once.

The dataset is the trainer's layout, read by `moldpilot train DATASET` as it is (models/dataset.py):
``DATASET/<class>/<id>.png`` with the class names of the model card (the ok class and the defects), and
``DATASET/labels.csv``, one row per label event (COLUMNS). Answers:

- ``right``: the model's verdict was right; an OK part goes to the ok class, an NG part to its defect
  (a NO_DECISION has no class to be right about, so it needs one of the two others);
- ``ok``: should be OK; ``ng`` with a defect class: should be NG with that defect;
- ``collect``: filed by a collect run (edge/teach/collect.py) under the class the engineer chose;
- ``undone``: the label is withdrawn (the crop leaves the dataset, the part waits again).

Relabelling writes a new row; the newest row of a part supersedes its older ones (labels.csv is an
append-only history: who said what when), and its crop moves to the new class folder. Filing the same
class again (a retried request) writes nothing: nothing is filed twice.

Order of writes per label, each step durable before the next (edge/teach/durable.py):
1. the label about to be filed goes into the part's queue record (`intent`, with its `when`);
2. the crop is written to ``.<id>.png.tmp`` in the class folder, fsynced, renamed to ``<id>.png``;
3. the row is appended to labels.csv and fsynced; only now does the request answer "labelled";
4. a copy in another class folder (the previous label) is removed.
`reconcile()` at start finishes or undoes what a crash interrupted: removes `.*.tmp`, cuts a torn last
CSV line, gives a crop without its row the row of its intent (or, with no intent, of its queue record,
who "recovered"), and keeps each part's crop only in the folder of its newest row.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.teach.durable import append_line, drop_torn_tail, fsync_dir, remove_tmp, write_atomic
from edge.teach.queue import CROP_SUFFIX, ITEM_ID, ReviewQueue

log = logging.getLogger(__name__)

LABELS_CSV = "labels.csv"
COLUMNS = ("item", "file", "part_id", "shot", "cavity", "model_version", "verdict", "defect", "score",
           "label", "answer", "who", "when")
ANSWERS = ("right", "ok", "ng", "collect", "undone")
RECOVERED = "recovered"  # `who` of a row rebuilt at start for a crop whose label had no intent


class LabelError(ValueError):
    """A label that cannot be filed; `code` names the reason for the console's message catalogue."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Reconciled:
    rows_added: int  # crops on disk whose row a crash had kept from labels.csv
    copies_removed: int  # crops in a folder their newest row does not name
    tmp_removed: int
    torn_line: bool


class Labels:
    def __init__(self, dataset: Path | str, class_names: Sequence[str], ok_class: str, queue: ReviewQueue,
                 clock: Callable[[], datetime] = lambda: datetime.now().astimezone()) -> None:
        self.dataset = Path(dataset)
        self.class_names, self.ok_class = tuple(class_names), ok_class
        self.queue = queue
        self._clock = clock
        self._lock = threading.Lock()  # one label at a time: the CSV and the folders change together
        self._latest: dict[str, dict[str, str]] = {}  # item -> its newest row
        self._revision = 0  # rows in labels.csv: grows with every answer, undo included
        # (part id, cavity) -> newest label, for the shadow's agreement with the operator (`label_of`):
        # read without the lock by another thread; one dict assignment per label keeps that safe.
        self._by_part: dict[tuple[str, str], str] = {}
        self.csv_path = self.dataset / LABELS_CSV
        self.dataset.mkdir(parents=True, exist_ok=True)
        self._check_header()
        self.reconciled = self.reconcile()

    # -- labelling -----------------------------------------------------------------------------------

    def file(self, item_id: str, answer: str, who: str, defect: str | None = None) -> dict[str, str]:
        """File the part under the class `answer` gives; its newest row (unchanged when the part already
        is in that class). LabelError when the part, the answer or the class is not known."""
        with self._lock:
            record = self.queue.record(item_id)
            if record is None:
                raise LabelError("unknown_item", f"part {item_id} is not in the review queue")
            label = self.class_of(record, answer, defect)
            latest = self._latest.get(item_id)
            if latest is None and not label:
                raise LabelError("not_labelled", f"part {item_id} has no label to undo")
            if latest is not None and latest["label"] == label:  # a retried request: filed once
                self.queue.mark(item_id, label or None)
                return latest
            row = self._row(record, label, answer, who)
            if self.queue.hold(item_id, row) is None:  # evicted a moment ago
                raise LabelError("unknown_item", f"part {item_id} is no longer in the review queue")
            try:
                if label:
                    target = self.dataset / label
                    target.mkdir(exist_ok=True)
                    crop = self.queue.crop_path(item_id).read_bytes()
                    write_atomic(target / f"{item_id}{CROP_SUFFIX}", crop)
                self._append(row)
                self._remove_copies(item_id, label)
            finally:
                self.queue.mark(item_id, self._latest.get(item_id, {}).get("label") or None)
            return row

    def undo(self, item_id: str, who: str) -> dict[str, str]:
        """Withdraw the part's label: its crop leaves the dataset and it waits in the queue again."""
        return self.file(item_id, "undone", who)

    def class_of(self, record: dict[str, Any], answer: str, defect: str | None) -> str:
        """The class folder an answer files the part under ("" for undone)."""
        if answer == "undone":
            return ""
        if answer == "right":
            if record.get("decision") == "OK":
                return self.ok_class
            if record.get("decision") == "NG" and record.get("defect") in self.class_names:
                return str(record["defect"])
            raise LabelError("no_class", "a no-decision part has no verdict to be right about; "
                                         "answer 'should be OK' or 'should be NG: <class>'")
        if answer == "ok":
            return self.ok_class
        if answer in ("ng", "collect") and defect in self.class_names and (defect != self.ok_class
                                                                            or answer == "collect"):
            return str(defect)
        if answer not in ANSWERS:
            raise LabelError("unknown_answer", f"unknown answer {answer!r}; one of right, ok, ng")
        raise LabelError("unknown_class", f"{defect!r} is not a defect class of the model "
                                          f"({', '.join(c for c in self.class_names if c != self.ok_class)})")

    def latest(self) -> dict[str, dict[str, str]]:
        """Each labelled part's newest row (undone parts included, with an empty label)."""
        with self._lock:
            return dict(self._latest)

    def label_of(self, part_id: int | None, cavity: int) -> str | None:
        """The class an operator filed this part under (None: not labelled, undone, or no part id)."""
        if part_id is None:
            return None
        return self._by_part.get((str(part_id), str(cavity))) or None

    def counts(self) -> tuple[int, dict[str, int]]:
        """(revision, parts filed per class) as the dataset holds them now. The revision (rows in
        labels.csv) lets a page that sends answers in parallel keep the newest counts, whatever order
        the replies arrive in."""
        with self._lock:
            out: dict[str, int] = {}
            for row in self._latest.values():
                if row["label"]:
                    out[row["label"]] = out.get(row["label"], 0) + 1
            return self._revision, out

    # -- start -----------------------------------------------------------------------------------------

    def reconcile(self) -> Reconciled:
        """Finish or undo what a crash interrupted (see the module docstring); safe to run any time."""
        with self._lock:
            torn = drop_torn_tail(self.csv_path)
            rows = _read_rows(self.csv_path)
            self._revision = len(rows)
            self._latest = {row["item"]: row for row in rows}
            self._by_part = {(row["part_id"], row["cavity"]): row["label"] for row in self._latest.values()}
            crops = self._crops_on_disk()
            tmp_removed = sum(remove_tmp(folder) for folder in self._class_folders())
            rows_added = copies_removed = 0
            for item_id in sorted(set(crops) | set(self._latest)):
                row = self._unwritten_row(item_id, crops.get(item_id, []))
                if row is not None:
                    self._append(row)
                    rows_added += 1
                copies_removed += self._remove_copies(item_id, self._latest.get(item_id, {}).get("label", ""))
            for item_id in self.queue.ids():
                self.queue.mark(item_id, self._latest.get(item_id, {}).get("label") or None)
        done = Reconciled(rows_added, copies_removed, tmp_removed, torn)
        if rows_added or copies_removed or tmp_removed or torn:
            log.warning("labels in %s reconciled after an interrupted write: %s", self.dataset, done)
        return done

    def _unwritten_row(self, item_id: str, crops: list[Path]) -> dict[str, str] | None:
        """The row a crash kept from labels.csv for a crop that is on disk, or None."""
        record = self.queue.record(item_id)
        intent = (record or {}).get("intent")
        latest = self._latest.get(item_id)
        if intent and (latest is None or latest["when"] < intent["when"]) and intent["label"] and \
                any(p.parent.name == intent["label"] for p in crops):
            return dict(intent)
        if latest is None and crops and record is not None:
            label = crops[0].parent.name
            return self._row(record, label, self._answer_for(record, label), RECOVERED)
        return None

    # -- inside ----------------------------------------------------------------------------------------

    def _answer_for(self, record: dict[str, Any], label: str) -> str:
        """The answer that files `record` under `label` (for a row rebuilt from a crop alone)."""
        verdict_class = self.ok_class if record.get("decision") == "OK" else record.get("defect")
        return "right" if label == verdict_class else "ok" if label == self.ok_class else "ng"

    def _row(self, record: dict[str, Any], label: str, answer: str, who: str) -> dict[str, str]:
        item_id = str(record["id"])
        values: dict[str, Any] = {
            "item": item_id, "file": f"{label}/{item_id}{CROP_SUFFIX}" if label else "",
            "part_id": record.get("part_id"), "shot": record.get("shot"), "cavity": record.get("cavity"),
            "model_version": record.get("model_version"), "verdict": record.get("decision"),
            "defect": record.get("defect"), "score": record.get("score"), "label": label,
            "answer": answer, "who": who, "when": self._clock().isoformat(timespec="milliseconds"),
        }
        return {key: "" if values[key] is None else str(values[key]) for key in COLUMNS}

    def _append(self, row: dict[str, str]) -> None:
        new = not self.csv_path.is_file()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if new:
            writer.writerow(COLUMNS)
        writer.writerow([row[key] for key in COLUMNS])
        append_line(self.csv_path, buffer.getvalue())
        self._revision += 1
        self._latest[row["item"]] = row
        self._by_part[(row["part_id"], row["cavity"])] = row["label"]

    def _remove_copies(self, item_id: str, keep_label: str) -> int:
        removed = 0
        for folder in self._class_folders():
            path = folder / f"{item_id}{CROP_SUFFIX}"
            if folder.name != keep_label and path.is_file():
                path.unlink()
                fsync_dir(folder)
                removed += 1
        return removed

    def _class_folders(self) -> list[Path]:
        return [p for p in self.dataset.iterdir() if p.is_dir() and not p.name.startswith(".")]

    def _crops_on_disk(self) -> dict[str, list[Path]]:
        """Our crops (named by a queue id) per item; other files of the dataset are not ours to touch."""
        crops: dict[str, list[Path]] = {}
        for folder in self._class_folders():
            for path in folder.glob(f"*{CROP_SUFFIX}"):
                if ITEM_ID.match(path.stem):
                    crops.setdefault(path.stem, []).append(path)
        return crops

    def _check_header(self) -> None:
        if not self.csv_path.is_file() or self.csv_path.stat().st_size == 0:
            return
        with open(self.csv_path, encoding="utf-8", newline="") as f:
            header = tuple(next(csv.reader(f), ()))
        if header != COLUMNS:
            raise ConfigError(f"{self.csv_path} is not a MoldPilot labels file (its columns are "
                              f"{', '.join(header)}); point review.dataset at a folder of its own")


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return [row for row in csv.DictReader(f) if row.get("item")]


def read_labels(dataset: Path | str) -> list[dict[str, str]]:
    """Every row of DATASET/labels.csv, oldest first (the newest row of an item is its label)."""
    return _read_rows(Path(dataset) / LABELS_CSV)
