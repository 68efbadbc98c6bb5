"""NG evidence store: whole sets per part, folder per day, quota kept after every save, disk floor."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.ng_store import NgStore, overlay
from edge.sinks.base import SinkPolicy, SinkWorker
from edge.sinks.ng_store import NgStoreSink
from edge.verdict import Decision, ErrorCode, Evidence, Verdict

START = datetime(2025, 3, 14, 23, 58, 0)


class StepClock:
    """Each call is `step` later than the previous one, so 40 saves can span midnight."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def part_image(seed: int, size: int = 96) -> np.ndarray:
    # Noise does not compress, so each set is a predictable ~30-40 kB and a 0.2 MB quota holds a few.
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def record(part_id: int, decision: str = "NG") -> dict:
    return {"part_id": part_id, "shot": part_id // 4, "cavity": part_id % 4 + 1, "frame_id": part_id,
            "decision": decision, "defect": "short_shot", "score": np.float32(0.93), "error_code": 0,
            "timings_ms": {"infer": 3.2}}


def bytes_on_disk(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_quota_kept_after_every_save_oldest_deleted_days_used(tmp_path: Path) -> None:
    quota_mb = 0.2
    store = NgStore(tmp_path, quota_mb, min_free_mb=0, clock=StepClock(START, timedelta(seconds=7)))
    heat = np.zeros((5, 5), np.float32)
    for part_id in range(40):
        assert store.save(record(part_id), part_image(part_id), heat) is not None
        assert bytes_on_disk(tmp_path) <= quota_mb * 1024 * 1024
        assert store.stats().bytes_now == bytes_on_disk(tmp_path)

    stats = store.stats()
    assert stats.saved == 40 and stats.deleted > 0
    # Midnight was crossed: the first day folder was emptied by eviction and removed.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-03-15"]
    kept = sorted(tmp_path.rglob("*.json"))
    kept_ids = [json.loads(p.read_text())["part_id"] for p in kept]
    assert kept_ids == list(range(40 - len(kept), 40))  # the newest, in order
    assert len(kept) == 40 - stats.deleted
    for path in kept:  # sets are whole: image + overlay + json
        stem = path.name.removesuffix(".json")
        assert (path.parent / f"{stem}.png").is_file() and (path.parent / f"{stem}.overlay.jpg").is_file()


def test_both_day_folders_and_file_names(tmp_path: Path) -> None:
    store = NgStore(tmp_path, 50, min_free_mb=0, clock=StepClock(START, timedelta(minutes=1)))
    paths = [store.save(record(i, "NO_DECISION" if i == 2 else "NG"), part_image(i, 32), None)
             for i in range(4)]
    assert [p.parent.name for p in paths] == ["2025-03-14", "2025-03-15", "2025-03-15", "2025-03-15"]
    assert paths[0].name == "20250314T235900000_0_c1_NG.json"
    assert paths[2].name == "20250315T000100000_2_c3_NO_DECISION.json"


def test_record_readable_back_and_image_lossless(tmp_path: Path) -> None:
    store = NgStore(tmp_path, 10, min_free_mb=0)
    image = part_image(7, 48)
    path = store.save(record(7), image, np.full((4, 4), 0.5))
    back = json.loads(path.read_text())
    assert back["decision"] == "NG" and back["score"] == pytest.approx(0.93)
    assert back["timings_ms"] == {"infer": 3.2}
    stem = path.name.removesuffix(".json")
    np.testing.assert_array_equal(cv2.imread(str(path.parent / f"{stem}.png")), image)


def test_restart_scans_existing_sets_and_applies_a_lower_quota(tmp_path: Path) -> None:
    store = NgStore(tmp_path, 1, min_free_mb=0, clock=StepClock(START, timedelta(seconds=1)))
    for i in range(10):
        store.save(record(i), part_image(i), None)
    on_disk = bytes_on_disk(tmp_path)
    assert NgStore(tmp_path, 1, min_free_mb=0).stats().bytes_now == on_disk

    smaller = NgStore(tmp_path, 0.1, min_free_mb=0)
    assert bytes_on_disk(tmp_path) == smaller.stats().bytes_now <= 0.1 * 1024 * 1024
    assert smaller.stats().deleted > 0


def test_concurrent_saves_keep_the_books_straight(tmp_path: Path) -> None:
    store = NgStore(tmp_path, 0.3, min_free_mb=0)

    def worker(offset: int) -> None:
        for i in range(8):
            store.save(record(offset + i), part_image(offset + i, 64), None)

    threads = [threading.Thread(target=worker, args=(100 * t,), name=f"ng-sink-{t}") for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = store.stats()
    assert stats.saved == 32 and stats.bytes_now == bytes_on_disk(tmp_path) <= 0.3 * 1024 * 1024
    assert len(list(tmp_path.rglob("*.json"))) == 32 - stats.deleted


def test_free_space_floor_refuses_to_write(tmp_path: Path) -> None:
    store = NgStore(tmp_path, 10, min_free_mb=1e12)  # no disk has an exabyte free
    assert store.save(record(1), part_image(1, 32), None) is None
    assert store.stats().skipped_disk_full == 1 and store.stats().saved == 0
    assert not list(tmp_path.rglob("*.json"))


def test_a_set_larger_than_the_quota_is_skipped(tmp_path: Path) -> None:
    store = NgStore(tmp_path, 0.01, min_free_mb=0)  # 10 kB; a 96x96 noise PNG alone is ~27 kB
    assert store.save(record(1), part_image(1), None) is None
    assert store.stats().skipped_too_large == 1


def test_overlay_same_shape_and_hot_where_the_heatmap_is_hot() -> None:
    image = np.full((120, 160, 3), 128, np.uint8)
    heat = np.zeros((10, 10), np.float32)
    heat[7:, 7:] = 1.0  # hot bottom-right corner
    out = overlay(image, heat, "NG short_shot\nscore 0.93")
    assert out.shape == image.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - image.astype(int)).sum(axis=2)
    assert diff[100:, 130:].mean() > 60  # JET red blended in
    assert out[110, 150, 2] > out[110, 150, 0]  # red over blue where hot
    assert out[70, 40, 0] > out[70, 40, 2]  # blue over red where cold
    assert (diff[:12] > 0).any()  # the text band at the top
    np.testing.assert_array_equal(image, 128)  # input untouched


def test_overlay_without_heatmap_only_draws_text() -> None:
    image = np.full((64, 64, 3), 200, np.uint8)
    out = overlay(image, None, "NO_DECISION")
    np.testing.assert_array_equal(out[40:], image[40:])
    assert (out[:10] != image[:10]).any()


def test_a_set_the_reserve_refuses_counts_as_skipped_in_the_sink_figures(tmp_path: Path) -> None:
    """Issue 17: with the floor above the free space every set was skipped while the sink said delivered."""
    ng = Verdict(1, 7, 1, 2, 1, Decision.NG, "flash", 0.9, ErrorCode.NONE, {}, 0.0, 0.0)
    ng.evidence = Evidence(part_image(1), None, (0, 0, 96, 96))
    ok = Verdict(1, 7, 1, 1, 1, Decision.OK, None, 0.1, ErrorCode.NONE, {}, 0.0, 0.0)
    worker = SinkWorker(NgStoreSink(NgStore(tmp_path, 10, min_free_mb=1e12)), SinkPolicy.BLOCK)
    worker.start()
    worker.offer((ok, ng))
    assert worker.close()
    stats = worker.stats()
    assert (stats.delivered, stats.skipped) == (1, 1)


def test_the_store_deletes_only_what_it_wrote(tmp_path: Path) -> None:
    """Issue 17: pointed at a folder with YYYY-MM-DD sub-folders, it deleted 2024-01-01/shift-report.pdf
    at start to meet its quota."""
    foreign = tmp_path / "2024-01-01" / "shift-report.pdf"
    foreign.parent.mkdir()
    foreign.write_bytes(b"%PDF" + bytes(300_000))  # larger than the whole quota
    look_alike = tmp_path / "2024-01-01" / "20240101T080000000_notes.json"  # our stamp, not our name
    look_alike.write_text("{}")
    store = NgStore(tmp_path, 0.2, min_free_mb=0, clock=StepClock(START, timedelta(seconds=1)))
    heat = np.zeros((5, 5), np.float32)
    for part_id in range(20):  # enough sets to evict the oldest of ours many times over
        store.save(record(part_id), part_image(part_id), heat)
    assert foreign.read_bytes()[:4] == b"%PDF" and look_alike.exists()
    assert store.stats().deleted > 0 and store.stats().bytes_now <= 0.2 * 1024 * 1024
    reopened = NgStore(tmp_path, 0.05, min_free_mb=0)  # a lowered quota evicts at start: ours only
    assert foreign.exists() and look_alike.exists() and reopened.stats().deleted > 0
