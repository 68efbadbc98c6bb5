"""Labels: the dataset is the trainer's layout (models/dataset.py reads it), labels.csv names part, shot,
cavity, model version, who and when; a label is filed once; relabel and undo supersede; and a restart
after a crash at any step between the writes finishes or removes what was half done."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.teach.collect import Collector, review_record
from edge.teach.durable import tmp_path as tmp_of
from edge.teach.labels import COLUMNS, RECOVERED, LabelError, Labels, read_labels
from edge.teach.queue import ReviewQueue
from edge.verdict import Decision
from models.dataset import scan
from tests.edge.teach.helpers import CLASSES, crop, verdict


def _desk(tmp_path: Path, parts: int = 0) -> tuple[ReviewQueue, Labels, list[str]]:
    queue = ReviewQueue(tmp_path / "q", max_parts=100)
    labels = Labels(tmp_path / "data", CLASSES, "ok", queue)
    ids = []
    for n in range(parts):
        decision = (Decision.NG, Decision.OK, Decision.NO_DECISION)[n % 3]
        item = queue.add({**review_record(verdict(n, decision), "v1"), "kind": "x"}, crop(n), None)
        assert item is not None
        ids.append(item)
    return queue, labels, ids


def _restart(tmp_path: Path) -> tuple[ReviewQueue, Labels]:
    queue = ReviewQueue(tmp_path / "q", max_parts=100)
    return queue, Labels(tmp_path / "data", CLASSES, "ok", queue)


def test_labels_file_crops_in_the_trainers_layout_with_a_row_each(tmp_path: Path) -> None:
    queue, labels, ids = _desk(tmp_path, 9)
    for n, item in enumerate(ids):
        answer = ("right", "ok", "ng")[n % 3]
        labels.file(item, answer, "jun", "short_shot" if answer == "ng" else None)
    data = scan(tmp_path / "data")  # the trainer's own loader
    assert data.counts() == {"ok": 3, "flash": 3, "short_shot": 3}
    assert sorted(p.name for p in data.paths) == sorted(f"{item}.png" for item in ids)
    rows = read_labels(tmp_path / "data")
    assert len(rows) == 9 and tuple(rows[0]) == COLUMNS
    first = rows[0]
    assert (first["file"], first["part_id"], first["shot"], first["cavity"], first["model_version"],
            first["verdict"], first["label"], first["answer"], first["who"]) == (
        f"flash/{ids[0]}.png", "1000", "0", "1", "v1", "NG", "flash", "right", "jun")
    assert first["when"].startswith("20") and "T" in first["when"]
    assert queue.stats().waiting == 0 and queue.stats().labelled == 9


def test_a_no_decision_part_cannot_be_right_and_unknown_classes_are_refused(tmp_path: Path) -> None:
    _, labels, ids = _desk(tmp_path, 3)
    with pytest.raises(LabelError) as err:
        labels.file(ids[2], "right", "jun")
    assert err.value.code == "no_class"
    with pytest.raises(LabelError) as err:
        labels.file(ids[0], "ng", "jun", "dent")
    assert err.value.code == "unknown_class"
    assert read_labels(tmp_path / "data") == []


def test_the_same_label_twice_is_filed_once_and_a_relabel_moves_the_crop(tmp_path: Path) -> None:
    _, labels, ids = _desk(tmp_path, 1)
    labels.file(ids[0], "right", "jun")
    labels.file(ids[0], "right", "jun")  # a retried request
    assert len(read_labels(tmp_path / "data")) == 1
    labels.file(ids[0], "ok", "mina")  # the engineer changes their mind: a new row supersedes
    assert [r["label"] for r in read_labels(tmp_path / "data")] == ["flash", "ok"]
    assert sorted(p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").rglob("*.png")) \
        == [f"ok/{ids[0]}.png"]
    labels.undo(ids[0], "mina")
    assert list((tmp_path / "data").rglob("*.png")) == []
    assert labels.latest()[ids[0]]["answer"] == "undone"


def test_a_crash_after_the_crop_before_its_row_gets_the_row_at_restart(tmp_path: Path) -> None:
    queue, labels, ids = _desk(tmp_path, 2)
    labels.file(ids[0], "right", "jun")
    # Crash point: steps 1 (intent) and 2 (crop renamed into place) done, step 3 (the row) not.
    row = labels._row(queue.record(ids[1]) or {}, "ok", "right", "jun")
    queue.hold(ids[1], row)
    (tmp_path / "data" / "ok").mkdir()
    (tmp_path / "data" / "ok" / f"{ids[1]}.png").write_bytes(queue.crop_path(ids[1]).read_bytes())
    queue2, labels2 = _restart(tmp_path)
    assert labels2.reconciled.rows_added == 1
    rows = read_labels(tmp_path / "data")
    assert [(r["item"], r["label"], r["who"]) for r in rows] == [(ids[0], "flash", "jun"),
                                                                 (ids[1], "ok", "jun")]
    assert queue2.stats().labelled == 2
    _, labels3 = _restart(tmp_path)  # reconcile again: nothing more to do, nothing filed twice
    assert labels3.reconciled.rows_added == 0 and len(read_labels(tmp_path / "data")) == 2


def test_a_crop_without_intent_or_row_gets_a_recovered_row(tmp_path: Path) -> None:
    queue, _, ids = _desk(tmp_path, 1)
    (tmp_path / "data" / "flash").mkdir()
    (tmp_path / "data" / "flash" / f"{ids[0]}.png").write_bytes(queue.crop_path(ids[0]).read_bytes())
    _restart(tmp_path)
    (row,) = read_labels(tmp_path / "data")
    assert (row["label"], row["answer"], row["who"]) == ("flash", "right", RECOVERED)


def test_a_crash_mid_write_leaves_nothing_half_written_after_restart(tmp_path: Path) -> None:
    queue, labels, ids = _desk(tmp_path, 3)
    labels.file(ids[0], "right", "jun")
    labels.file(ids[1], "ok", "jun")
    # Crash points: a crop still in its tmp file; a torn last CSV line; a relabel that had written
    # its row but not yet removed the old copy.
    (tmp_path / "data" / "flash").mkdir(exist_ok=True)
    tmp_of(tmp_path / "data" / "flash" / f"{ids[2]}.png").write_bytes(b"\x89PNG half")
    (tmp_path / "data" / "flash" / f"{ids[1]}.png").write_bytes(queue.crop_path(ids[1]).read_bytes())
    with open(tmp_path / "data" / "labels.csv", "a", encoding="utf-8") as f:
        f.write(f"{ids[2]},flash/{ids[2]}.png,10")
    queue2, labels2 = _restart(tmp_path)
    done = labels2.reconciled
    assert (done.tmp_removed, done.torn_line, done.copies_removed, done.rows_added) == (1, True, 1, 0)
    assert sorted(p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").rglob("*.png")) \
        == sorted([f"flash/{ids[0]}.png", f"ok/{ids[1]}.png"])
    assert [r["item"] for r in read_labels(tmp_path / "data")] == ids[:2]
    assert [r["id"] for r in queue2.waiting(10)] == [ids[2]]  # the unfinished label: waiting again
    with open(tmp_path / "data" / "labels.csv", encoding="utf-8", newline="") as f:
        assert all(len(line) == len(COLUMNS) for line in csv.reader(f))


def test_a_foreign_labels_csv_is_refused_with_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "labels.csv").write_text("file,label,defect,severity,bbox_xywh,shape\n")
    with pytest.raises(ConfigError, match="not a MoldPilot labels file"):
        Labels(tmp_path / "data", CLASSES, "ok", ReviewQueue(tmp_path / "q", 10))


def test_collect_files_the_next_parts_of_the_chosen_cavities(tmp_path: Path) -> None:
    queue, labels, _ = _desk(tmp_path)
    collector = Collector(labels, "v1")
    collector.start("ok", 3, frozenset({2}), "jun")
    assert collector.wants(2) and not collector.wants(1)
    taken = [collector.take(verdict(n, Decision.NG if n % 2 else Decision.OK, cavity=1 + n % 2))
             for n in range(10)]
    assert taken == [False, True] * 3 + [False] * 4  # cavity 2 only, three parts, then done
    progress = collector.progress()
    assert progress is not None and progress["done"] and progress["filed"] == 3
    rows = read_labels(tmp_path / "data")
    assert [(r["label"], r["answer"], r["who"], r["cavity"]) for r in rows] == \
        [("ok", "collect", "jun", "2")] * 3
    assert queue.stats().waiting == 0
    with pytest.raises(LabelError):
        collector.start("dent", 3, None, "jun")
