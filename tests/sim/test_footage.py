"""Footage: an MJPG .avi that OpenCV reads back as the timeline describes, byte-identical per seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sim.footage import FootagePlan, FootageSettings, mjpg_round_trip, trigger_crops, write_footage
from sim.shot import grid_layout
from sim.timeline import Timeline, read_timeline, timeline_path

SETTINGS = FootageSettings(shots=3, seed=7, cavities=4, fps=10.0, cycle_s=1.0, defect_rate=0.5)


def read_frames(path: Path, api: int = cv2.CAP_ANY) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path), api)
    assert capture.isOpened()
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def structure_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference once sensor noise is smoothed away, in grey levels."""
    blur = [cv2.GaussianBlur(x.astype(np.float32), (0, 0), 1.5) for x in (a, b)]
    return float(np.abs(blur[0] - blur[1]).mean())


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("footage") / "line.avi"
    write_footage(out, SETTINGS)
    return out


def test_same_seed_same_bytes(footage: Path, tmp_path: Path) -> None:
    again = tmp_path / "line.avi"
    write_footage(again, SETTINGS)
    for a, b in ((footage, again), (timeline_path(footage), timeline_path(again))):
        assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_reads_back_with_the_timeline_frame_count_size_and_rois(footage: Path) -> None:
    timeline = read_timeline(footage)
    frames = read_frames(footage)
    assert len(frames) == timeline.frame_count == 3 * 10
    assert frames[0].shape == (timeline.frame_wh[1], timeline.frame_wh[0], 3) == (400, 400, 3)
    assert timeline.rois_xywh == grid_layout(4, 160).rois_xywh
    assert timeline.fps == cv2.VideoCapture(str(footage)).get(cv2.CAP_PROP_FPS) == 10.0
    # The JSON round-trips through the dataclasses.
    assert Timeline.from_json(json.loads(timeline_path(footage).read_text())) == timeline


def test_parts_dwell_in_their_nests_and_leave(footage: Path) -> None:
    timeline = read_timeline(footage)
    frames = read_frames(footage)
    for shot in timeline.shots:
        empty = frames[shot.first_frame]  # the parts are still off-frame
        assert shot.dwell_first < shot.trigger_frame < shot.dwell_last
        assert shot.part_ids == tuple(c.part_id for c in shot.cavities)
        dwell = [frames[i] for i in (shot.dwell_first, shot.trigger_frame, shot.dwell_last)]
        for x, y, w, h in timeline.rois_xywh:
            crops = [f[y : y + h, x : x + w] for f in dwell]
            # A part sits in every nest for the whole dwell, in the same place (only noise differs).
            assert structure_diff(crops[1], empty[y : y + h, x : x + w]) > 10
            assert structure_diff(crops[0], crops[2]) < 2
        after = frames[shot.first_frame + 10 - 1]  # the last frame of the cycle
        assert structure_diff(after, empty) < 2
    ids = [p for shot in timeline.shots for p in shot.part_ids]
    assert ids == list(range(1, 13))


def test_mjpg_crop_stays_close_to_the_rendered_frame(footage: Path) -> None:
    timeline = read_timeline(footage)
    plan = FootagePlan(SETTINGS)
    trigger = timeline.shots[1].trigger_frame
    decoded = read_frames(footage)[trigger]
    rendered = plan.frame(trigger)
    for x, y, w, h in timeline.rois_xywh:
        assert structure_diff(decoded[y : y + h, x : x + w], rendered[y : y + h, x : x + w]) < 1.5


def test_mjpg_round_trip_of_crops_is_what_the_footage_does_to_them(footage: Path) -> None:
    """Training crops sent through the round trip carry the footage's compression, no more, no less:
    the same mean change as the crops of the written footage, and no shift."""
    timeline, plan = read_timeline(footage), FootagePlan(SETTINGS)
    frames = read_frames(footage)
    rendered, decoded = [], []
    for shot in timeline.shots:
        frame = plan.frame(shot.trigger_frame)
        for x, y, w, h in timeline.rois_xywh:
            rendered.append(frame[y:y + h, x:x + w])
            decoded.append(frames[shot.trigger_frame][y:y + h, x:x + w])
    crops = np.stack(rendered)
    round_trip = mjpg_round_trip(crops, seed=5)
    assert round_trip.shape == crops.shape and round_trip.dtype == np.uint8
    assert np.array_equal(round_trip, mjpg_round_trip(crops, seed=5))  # deterministic
    ours = np.abs(round_trip.astype(np.int16) - crops).mean()
    footage_change = np.abs(np.stack(decoded).astype(np.int16) - crops).mean()
    assert 0.5 * footage_change < ours < 1.5 * footage_change, (ours, footage_change)
    for before, after in zip(crops, round_trip, strict=True):
        assert structure_diff(before, after) < 1.5


def test_trigger_crops_are_the_parts_as_replay_cuts_them_from_the_recording(footage: Path) -> None:
    """Validating the default model on trigger_crops is validating it on footage: the same pixels as the
    ROIs of each trigger frame of the written .avi as replay decodes it (FFmpeg), and the timeline's
    truth, part by part."""
    timeline, frames = read_timeline(footage), read_frames(footage, cv2.CAP_FFMPEG)
    crops, defects = trigger_crops(SETTINGS)
    expected = [frames[shot.trigger_frame][y:y + h, x:x + w] for shot in timeline.shots
                for x, y, w, h in timeline.rois_xywh]
    assert crops.shape == (3 * 4, 160, 160, 3)
    assert all(np.array_equal(a, b) for a, b in zip(crops, expected, strict=True))
    assert defects == [c.defect for shot in timeline.shots for c in shot.cavities]
    assert any(defects) and None in defects


def test_ground_truth_and_bboxes_in_frame_pixels(footage: Path) -> None:
    timeline = read_timeline(footage)
    truths = [c for s in timeline.shots for c in s.cavities]
    assert any(c.label == "ng" for c in truths) and any(c.label == "ok" for c in truths)
    for c in truths:
        if c.label == "ok":
            assert c.defect is None and c.bbox_xywh is None
            continue
        rx, ry, rw, rh = timeline.rois_xywh[c.cavity - 1]
        x, y, w, h = c.bbox_xywh
        assert rx <= x and ry <= y and x + w <= rx + rw and y + h <= ry + rh


def test_one_cavity_defect_rate(tmp_path: Path) -> None:
    settings = FootageSettings(
        shots=4,
        seed=3,
        cavities=2,
        fps=4.0,
        cycle_s=1.0,
        defect_rate=0.0,
        cavity_defect_rates={2: 1.0},
        shape="cap",
    )
    timeline = write_footage(tmp_path / "worn.avi", settings)
    assert timeline.shape == "cap"
    assert [[c.label for c in s.cavities] for s in timeline.shots] == [["ok", "ng"]] * 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cavities": 3}, "cavities"),
        ({"cavity_defect_rates": {5: 0.5}}, "cavity 5"),
        ({"defect_rate": 1.5}, r"\[0, 1\]"),
        ({"fps": 1.0, "cycle_s": 1.0}, "4 frames"),
    ],
)
def test_settings_are_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FootageSettings(shots=1, seed=0, **kwargs)
