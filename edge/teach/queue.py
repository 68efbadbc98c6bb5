"""The review queue on disk: parts kept for a person to label, each with its crop, its heatmap overlay and
its record, bounded in count.

Layout: ``FOLDER/<id>.png`` (the cavity crop, unscaled: what `moldpilot crops` cuts and the trainer
reads), ``<id>.overlay.jpg`` (the NG store's drawing, edge/ng_store.py `overlay`) and ``<id>.json`` (the
record: part id, shot, cavity, decision, defect, score, model version, frame id, kind). The id is
``<stamp>_<part>_c<cavity>_<decision>`` (stamps sort in time order, as in the NG store). The record is
written last, atomically: it is the set's commit mark, so at start a crop or overlay without its record
is the remains of a crash and is removed, like any `.*.tmp`.

The queue keeps at most `max_parts` sets. When it is full the next part makes room, in this order:
a labelled part (its crop is already in the dataset: nothing is lost, counted as `released`), then the
oldest unlabelled OK sample (`dropped_ok`), then the oldest unlabelled NG / NO_DECISION part
(`dropped_ng`): escapes hide among the OK parts, but a rejected part is the likelier mistake to look at.
A part whose label is being written (`hold`) is never the one to go.

Which parts are labelled is the labels writer's to say (edge/teach/labels.py, from labels.csv at
start); the queue only remembers it (`mark`). Thread-safe: the sink thread adds, the console reads and
labels.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.ng_store import JPEG_QUALITY, OVERLAY_SUFFIX, overlay, verdict_caption
from edge.teach.durable import remove_tmp, write_atomic
from sim.dataset import PNG_PARAMS

log = logging.getLogger(__name__)

CROP_SUFFIX = ".png"
RECORD_SUFFIX = ".json"
ITEM_ID = re.compile(r"^\d{8}T\d{9}_[A-Za-z0-9-]+_c[A-Za-z0-9-]+_[A-Za-z-]+(-\d+)?$")  # see _new_id
_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
OK_SAMPLE = "ok_sample"  # the record's `kind` of an OK part kept at random


@dataclass
class QueueStats:
    waiting: int = 0  # kept, not labelled
    labelled: int = 0  # kept and labelled (still here for undo)
    added: int = 0
    released: int = 0  # labelled parts removed to make room (their crop is in the dataset)
    dropped_ok: int = 0  # unlabelled OK samples removed to make room
    dropped_ng: int = 0  # unlabelled NG / NO_DECISION parts removed to make room
    not_stored: int = 0  # a write failed (disk full, ...): logged, the part is not in the queue

    @property
    def dropped(self) -> int:
        return self.dropped_ok + self.dropped_ng + self.not_stored


@dataclass
class _Item:
    record: dict[str, Any]
    label: str | None = None  # the class it is filed under; None: waiting
    held: bool = False  # a label is being written


class ReviewQueue:
    def __init__(self, folder: Path | str, max_parts: int,
                 clock: Callable[[], datetime] = lambda: datetime.now().astimezone()) -> None:
        if max_parts < 1:
            raise ValueError(f"max_parts must be >= 1, got {max_parts}")
        self.folder = Path(folder)
        self.max_parts = max_parts
        self._clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, _Item] = OrderedDict()  # oldest first
        self._stats = QueueStats()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._scan()

    # -- the sink side -------------------------------------------------------------------------------

    def add(self, record: dict[str, Any], crop_bgr: np.ndarray, heatmap: np.ndarray | None) -> str | None:
        """Keep one part; its id, or None when it could not be written (counted in `not_stored`).
        Encoding happens before the lock, so labelling never waits on an encoder."""
        blobs = _encode(record, crop_bgr, heatmap)
        with self._lock:
            while len(self._items) >= self.max_parts and self._make_room():
                pass
            item_id = self._new_id(record)
            record = {**record, "id": item_id}
            try:
                for suffix, blob in blobs.items():
                    (self.folder / f"{item_id}{suffix}").write_bytes(blob)
                write_atomic(self.folder / f"{item_id}{RECORD_SUFFIX}", _json(record))
            except OSError as exc:
                self._delete_files(item_id)
                self._stats.not_stored += 1
                log.warning("review queue %s: part %s not stored (%s); %d not stored so far", self.folder,
                            record.get("part_id"), exc, self._stats.not_stored)
                return None
            self._items[item_id] = _Item(record)
            self._stats.added += 1
            return item_id

    # -- the labels side -----------------------------------------------------------------------------

    def record(self, item_id: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(item_id)
            return dict(item.record) if item is not None else None

    def crop_path(self, item_id: str) -> Path:
        return self.folder / f"{item_id}{CROP_SUFFIX}"

    def hold(self, item_id: str, intent: dict[str, Any] | None) -> dict[str, Any] | None:
        """Before a label is written: keep the part from being evicted and write the label about to be
        filed into its record (`intent`), so a crash half way can be finished at the next start. Its
        record, or None when the queue does not hold the part."""
        with self._lock:
            item = self._items.get(item_id)
            if item is None:
                return None
            item.held = True
            if intent is not None:
                item.record = {**item.record, "intent": intent}
                write_atomic(self.folder / f"{item_id}{RECORD_SUFFIX}", _json(item.record))
            return dict(item.record)

    def mark(self, item_id: str, label: str | None) -> None:
        """The part is filed under class `label` (None: waiting again); it may be evicted again."""
        with self._lock:
            item = self._items.get(item_id)
            if item is not None:
                item.label, item.held = label, False

    def waiting(self, limit: int, skip: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """The oldest `limit` unlabelled parts (records), leaving out the ids in `skip`."""
        out: list[dict[str, Any]] = []
        with self._lock:
            for item_id, item in self._items.items():
                if item.label is None and not item.held and item_id not in skip:
                    out.append(dict(item.record))
                    if len(out) >= limit:
                        break
        return out

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def stats(self) -> QueueStats:
        with self._lock:
            labelled = sum(1 for item in self._items.values() if item.label is not None)
            return QueueStats(**{**asdict(self._stats), "waiting": len(self._items) - labelled,
                                 "labelled": labelled})

    # -- inside ----------------------------------------------------------------------------------------

    def _make_room(self) -> bool:
        """With the lock held: evict one part (see the module docstring); False if none may go."""
        victim = next((i for i, it in self._items.items() if it.label is not None and not it.held), None)
        counter = "released"
        if victim is None:
            victim = next((i for i, it in self._items.items()
                           if not it.held and it.record.get("kind") == OK_SAMPLE), None)
            counter = "dropped_ok"
        if victim is None:
            victim = next((i for i, it in self._items.items() if not it.held), None)
            counter = "dropped_ng"
        if victim is None:
            return False
        del self._items[victim]
        self._delete_files(victim)
        setattr(self._stats, counter, getattr(self._stats, counter) + 1)
        return True

    def _delete_files(self, item_id: str) -> None:
        for suffix in (RECORD_SUFFIX, CROP_SUFFIX, OVERLAY_SUFFIX):  # the record first: the commit mark
            (self.folder / f"{item_id}{suffix}").unlink(missing_ok=True)

    def _new_id(self, record: dict[str, Any]) -> str:
        now = self._clock()
        stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}"
        part, cavity, decision = (_UNSAFE.sub("-", str(record.get(k))) if record.get(k) is not None else "na"
                                  for k in ("part_id", "cavity", "decision"))
        stem = candidate = f"{stamp}_{part}_c{cavity}_{decision}"
        n = 1
        while candidate in self._items or (self.folder / f"{candidate}{RECORD_SUFFIX}").exists():
            n += 1
            candidate = f"{stem}-{n}"
        return candidate

    def _scan(self) -> None:
        """Index the parts of the last run, oldest first; remove what a crash left half written."""
        removed = remove_tmp(self.folder)
        stems: dict[str, set[str]] = {}
        for path in self.folder.iterdir():
            stem, _, suffix = path.name.partition(".")
            if path.is_file() and ITEM_ID.match(stem):
                stems.setdefault(stem, set()).add("." + suffix)
        for stem in sorted(stems):
            try:
                record = json.loads((self.folder / f"{stem}{RECORD_SUFFIX}").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                record = None
            if record is None or CROP_SUFFIX not in stems[stem]:
                self._delete_files(stem)
                removed += 1
                continue
            self._items[stem] = _Item(record)
        log.info("review queue %s: %d part(s) kept, %d half-written set(s) removed", self.folder,
                 len(self._items), removed)


def _encode(record: dict[str, Any], crop_bgr: np.ndarray, heatmap: np.ndarray | None) -> dict[str, bytes]:
    ok_crop, crop = cv2.imencode(CROP_SUFFIX, crop_bgr, PNG_PARAMS)
    picture = overlay(crop_bgr, heatmap, verdict_caption(record))
    ok_overlay, drawn = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not (ok_crop and ok_overlay):
        raise ValueError(f"could not encode a crop of shape {crop_bgr.shape} for the review queue")
    return {CROP_SUFFIX: crop.tobytes(), OVERLAY_SUFFIX: drawn.tobytes()}


def _json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, indent=1, ensure_ascii=False).encode()
