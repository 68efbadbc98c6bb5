"""`moldpilot crops`: real simulator footage (MJPG .avi + timeline) cut into per-cavity PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import main
from sim.dataset import read_labels
from sim.footage import FootageSettings, write_footage
from sim.timeline import Timeline, timeline_path

SHOTS, CAVITIES = 6, 4


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Timeline]:
    path = tmp_path_factory.mktemp("footage") / "line.avi"
    timeline = write_footage(path, FootageSettings(shots=SHOTS, seed=11, cavities=CAVITIES, cell_px=64,
                                                   defect_rate=0.5))
    return path, timeline


def run_crops(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict | None, str]:
    code = main(["crops", *args])
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1]) if code == 0 else None
    return code, out, captured.err


def frames_of(video: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    return frames


def test_each_trigger_and_cavity_becomes_one_crop_in_its_class_folder(
        footage: tuple[Path, Timeline], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video, timeline = footage
    code, summary, _ = run_crops(capsys, str(video), "--out", str(tmp_path / "data"))
    assert code == 0 and summary is not None
    assert summary["labelled"] and summary["missing_frames"] == 0
    assert sum(summary["crops"].values()) == SHOTS * CAVITIES
    rows = {r.file: r for r in read_labels(tmp_path / "data")}
    assert len(rows) == SHOTS * CAVITIES
    frames = frames_of(video)
    defective_seen = 0
    for shot in timeline.shots:
        frame = frames[shot.trigger_frame]
        for truth, (x, y, w, h) in zip(shot.cavities, timeline.rois_xywh, strict=True):
            folder = truth.defect or "ok"
            name = f"{folder}/line_shot{shot.shot:05d}_cav{truth.cavity}.png"
            crop = cv2.imread(str(tmp_path / "data" / name))
            assert np.array_equal(crop, frame[y:y + h, x:x + w])  # the pixels the station judged
            row = rows[name]
            assert (row.label, row.defect, row.severity) == (truth.label, truth.defect,
                                                             pytest.approx(truth.severity, abs=1e-3))
            if truth.bbox_xywh is not None:
                defective_seen += 1
                bx, by, bw, bh = row.bbox_xywh  # in crop pixels, inside the crop
                assert (bx + x, by + y) == (max(truth.bbox_xywh[0], x), max(truth.bbox_xywh[1], y))
                assert bx >= 0 and by >= 0 and bx + bw <= w and by + bh <= h
    assert defective_seen > 0  # the footage has defects, so the box check ran


def test_a_shot_range_keeps_only_those_shots_and_a_second_run_never_overwrites(
        footage: tuple[Path, Timeline], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video, _ = footage
    out = tmp_path / "data"
    code, summary, _ = run_crops(capsys, str(video), "--out", str(out), "--shots", "2:3")
    assert code == 0 and summary is not None
    files = sorted(p.name for p in out.rglob("*.png"))
    assert len(files) == 2 * CAVITIES and all("_shot00002_" in f or "_shot00003_" in f for f in files)

    code, _, err = run_crops(capsys, str(video), "--out", str(out), "--shots", "1:4")  # overlaps 2:3
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    assert not any("_shot00001_" in p.name for p in out.rglob("*.png"))  # refused before writing any
    code, _, err = run_crops(capsys, str(video), "--out", str(out), "--shots", "40:50")
    assert code == 2 and "shots 1 to 6" in err


def test_a_recording_without_ground_truth_goes_to_unsorted(
        footage: tuple[Path, Timeline], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video, timeline = footage
    doc = timeline.to_json()
    for shot in doc["shots"]:  # type: ignore[union-attr]
        for cavity in shot["cavities"]:
            cavity.update(label=None, defect=None)  # as `moldpilot record` writes it
    unlabelled = tmp_path / "timeline.json"
    unlabelled.write_text(json.dumps(doc), encoding="utf-8")
    code, summary, _ = run_crops(capsys, str(video), "--out", str(tmp_path / "data"), "--timeline",
                                 str(unlabelled))
    assert code == 0 and summary is not None
    assert summary == {"out": str(tmp_path / "data"), "crops": {"unsorted": SHOTS * CAVITIES},
                       "labelled": False, "missing_frames": 0}
    assert not (tmp_path / "data" / "labels.csv").exists()


def test_a_truncated_video_gives_the_crops_it_holds_and_counts_the_rest(
        footage: tuple[Path, Timeline], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video, timeline = footage
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    timeline_path(cut).write_text(json.dumps(timeline.to_json()), encoding="utf-8")
    readable = len(frames_of(cut))
    expected_missing = sum(s.trigger_frame >= readable for s in timeline.shots)
    assert 0 < expected_missing < SHOTS
    code, summary, _ = run_crops(capsys, str(cut), "--out", str(tmp_path / "data"))
    assert code == 0 and summary is not None
    assert summary["missing_frames"] == expected_missing
    assert sum(summary["crops"].values()) == (SHOTS - expected_missing) * CAVITIES


def test_a_cavity_outside_the_frame_is_one_line_naming_it_and_writes_nothing(
        footage: tuple[Path, Timeline], tiny_model: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    video, _ = footage
    station = tmp_path / "station.yaml"
    station.write_text("station: {site: s, line: l, name: n}\n"
                       f"source: {{kind: file, uri: {video}, mode: triggered}}\n"
                       f"model: {{path: {tiny_model}}}\n"
                       "cavities: [{id: 1, roi: [0, 0, 32, 32]}, {id: 2, roi: [5000, 0, 32, 32]}]\n",
                       encoding="utf-8")
    code, _, err = run_crops(capsys, str(video), "--out", str(tmp_path / "data"), "-c", str(station))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cavity 2 ROI [5000, 0, 32, 32]" in err and "station.yaml" in err
    assert not (tmp_path / "data").exists()


def test_footage_without_a_timeline_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bare = tmp_path / "bare.avi"
    bare.write_bytes(b"not a video")
    code, _, err = run_crops(capsys, str(bare), "--out", str(tmp_path / "data"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no timeline" in err
