"""The review queue: what it keeps, its bound (labelled parts first, then the oldest unlabelled OK
samples, then the oldest rejected parts give way, each counted), what the sink sends it, and what a
crash leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from edge.config import ReviewSection
from edge.teach.collect import review_record
from edge.teach.labels import Labels
from edge.teach.queue import OK_SAMPLE, ReviewQueue
from edge.teach.review import build_review
from edge.verdict import Decision
from tests.edge.teach.helpers import CLASSES, crop, verdict


def _add(queue: ReviewQueue, n: int, kind: str = "ng") -> str:
    v = verdict(n, Decision.OK if kind == OK_SAMPLE else Decision.NG)
    item = queue.add({**review_record(v, "sim_parts_v2"), "kind": kind}, crop(n), None)
    assert item is not None
    return item


def test_a_kept_part_has_its_crop_overlay_and_record(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q", max_parts=10)
    item = _add(queue, 1)
    record = json.loads((tmp_path / "q" / f"{item}.json").read_text())
    assert {k: record[k] for k in ("part_id", "shot", "cavity", "decision", "defect", "score", "frame_id",
                                   "model_version", "kind")} == {
        "part_id": 1001, "shot": 1, "cavity": 1, "decision": "NG", "defect": "flash", "score": 0.9,
        "frame_id": 10, "model_version": "sim_parts_v2", "kind": "ng"}
    stored = cv2.imread(str(tmp_path / "q" / f"{item}.png"))
    assert (stored == crop(1)).all()  # lossless: the very pixels the model judged
    assert cv2.imread(str(tmp_path / "q" / f"{item}.overlay.jpg")).shape == crop(1).shape


def test_when_full_labelled_then_oldest_ok_samples_then_oldest_ng_give_way(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q", max_parts=4)
    labels = Labels(tmp_path / "data", CLASSES, "ok", queue)
    ng1, ok1, ok2, ng2 = _add(queue, 1), _add(queue, 2, OK_SAMPLE), _add(queue, 3, OK_SAMPLE), _add(queue, 4)
    labels.file(ng2, "right", "jun")
    _add(queue, 5)  # the labelled part goes first: its crop is safe in the dataset
    assert ng2 not in queue.ids() and (tmp_path / "data" / "flash" / f"{ng2}.png").is_file()
    _add(queue, 6)
    _add(queue, 7)
    assert ok1 not in queue.ids() and ok2 not in queue.ids() and ng1 in queue.ids()
    _add(queue, 8)  # no OK sample left: the oldest NG part
    assert ng1 not in queue.ids()
    stats = queue.stats()
    assert (stats.released, stats.dropped_ok, stats.dropped_ng, stats.dropped) == (1, 2, 1, 3)
    assert (stats.waiting, stats.labelled, stats.added) == (4, 0, 8)
    assert len(list((tmp_path / "q").glob("*.json"))) == 4  # the bound holds on disk too


def test_a_part_being_labelled_is_never_evicted(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q", max_parts=2)
    first, second = _add(queue, 1, OK_SAMPLE), _add(queue, 2)
    queue.hold(first, None)  # a label is being written for it
    _add(queue, 3)
    assert first in queue.ids() and second not in queue.ids()


def test_a_restart_reads_the_queue_and_removes_half_written_sets(tmp_path: Path) -> None:
    folder = tmp_path / "q"
    queue = ReviewQueue(folder, max_parts=10)
    kept = _add(queue, 1)
    half = _add(queue, 2)
    (folder / f"{half}.json").unlink()  # a crash before the record (the commit mark) was written
    (folder / ".20990101T000000000_9_c1_NG.json.tmp").write_text("{")
    again = ReviewQueue(folder, max_parts=10)
    assert again.ids() == [kept]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{kept}{s}" for s in (".json", ".png",
                                                                                       ".overlay.jpg"))


def test_the_sink_keeps_rejected_parts_and_ok_parts_with_pictures_and_counts_those_without(
        tmp_path: Path) -> None:
    desk = build_review(ReviewSection(folder=str(tmp_path / "q"), dataset=str(tmp_path / "d"), ok_sample=0.2),
                        CLASSES, "ok", "sim_parts_v2")
    sink = desk.sink
    assert sink.wants_evidence and sink.ok_evidence_share(1) == 0.2
    skipped = sink.write([verdict(1), verdict(2, Decision.OK), verdict(3, Decision.OK, picture=False),
                          verdict(4, Decision.NO_DECISION), verdict(5, Decision.NG, picture=False)])
    assert skipped == 0
    kinds = sorted(r["kind"] for r in desk.queue.waiting(10))
    assert kinds == ["ng", "no_decision", OK_SAMPLE]  # an OK part with a picture was drawn for review
    assert sink.no_picture == 1  # the NG part without a frame: counted, shown on the page
