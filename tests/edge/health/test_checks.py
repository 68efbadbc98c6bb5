"""The health pieces one by one: registration, the reference on disk, hysteresis, precedence, texts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import DataError
from edge.health.checks import FRAME_CHECKS
from edge.health.conditions import CheckResult, Condition, health_bits
from edge.health.features import measure
from edge.health.hysteresis import Debounce
from edge.health.precedence import hidden_by
from edge.health.reference import Reference
from edge.health.registration import view_motion
from edge.health.texts import ACTIONS, MEASURES, TITLES, alert_message
from edge.health.thresholds import HealthThresholds
from sim.timeline import read_timeline
from tests.health_runs import REFERENCE_SHOTS, render, trigger_frames


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> tuple[Reference, list[np.ndarray]]:
    """A fault-free recording's reference and its later trigger frames."""
    video = render(tmp_path_factory.mktemp("line") / "line.avi", seed=31, shots=REFERENCE_SHOTS + 3)
    frames = [f for _, _, f in trigger_frames(video)]
    return Reference.build(frames[:REFERENCE_SHOTS], read_timeline(video).rois_xywh), frames[REFERENCE_SHOTS:]


def test_registration_measures_a_known_shift_and_rotation(line: tuple[Reference, list[np.ndarray]]) -> None:
    ref, frames = line
    h, w = frames[0].shape[:2]
    for move, shift_px, angle_deg in (
        (np.float32([[1, 0, 6], [0, 1, -3]]), np.hypot(6, 3), 0.0),
        (cv2.getRotationMatrix2D((w / 2, h / 2), 1.5, 1.0), 0.0, -1.5),  # OpenCV: positive is anticlockwise
    ):
        moved = cv2.warpAffine(frames[0], move, (w, h), borderMode=cv2.BORDER_REFLECT101)
        motion = view_motion(ref.work_gray, measure(moved, ref.layout).work_gray, ref.layout.scale,
                             ref.layout.fixture_mask)
        assert motion.shift_px == pytest.approx(shift_px, abs=0.5)
        assert motion.angle_deg == pytest.approx(angle_deg, abs=0.3)
    still = measure(frames[1], ref.layout).work_gray
    assert view_motion(ref.work_gray, still, ref.layout.scale, ref.layout.fixture_mask).corner_shift_px < 0.5


def test_reference_round_trips_through_its_folder(
    line: tuple[Reference, list[np.ndarray]], tmp_path: Path
) -> None:
    ref, frames = line
    ref = Reference.build([*frames, *frames], ref.layout.rois_xywh, good_scores=[0.01, 0.02, 0.03],
                          no_decision_rate=0.01)
    loaded = Reference.load(ref.save(tmp_path / "health"))
    assert sorted(p.name for p in (tmp_path / "health").iterdir()) == ["reference.json", "reference.npz",
                                                                        "reference.png"]
    feats = measure(frames[0], ref.layout)
    th = HealthThresholds()
    assert [chk(feats, loaded, th) for chk in FRAME_CHECKS] == [chk(feats, ref, th) for chk in FRAME_CHECKS]
    assert loaded.no_decision_rate == 0.01 and list(loaded.good_scores) == pytest.approx([0.01, 0.02, 0.03])


def test_reference_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="moldpilot health reference"):
        Reference.load(tmp_path)
    with pytest.raises(DataError, match="at least 3 frames"):
        Reference.build([np.zeros((64, 64, 3), np.uint8)], [(0, 0, 32, 32)])


def test_a_frame_of_another_size_is_refused(line: tuple[Reference, list[np.ndarray]]) -> None:
    ref, _ = line
    with pytest.raises(ValueError, match="health reference was taken at"):
        measure(np.zeros((100, 100, 3), np.uint8), ref.layout)


def test_debounce_raises_after_n_and_clears_after_m() -> None:
    d = Debounce(raise_after=2, clear_after=3)
    assert [d.update(a) for a in (True, False, True, True, False, False, True, False, False, False)] == [
        None, None, None, "new", None, None, None, None, None, "end"]


def test_precedence_keeps_the_root_cause() -> None:
    assert hidden_by([Condition.BLOCKED, Condition.BLURRED, Condition.LIGHTING]) == {
        Condition.BLURRED, Condition.LIGHTING, Condition.MOLD_CHANGED}
    # A knock hides the tiles it moved, and what BLOCKED would hide stays judged: the lamp still counts.
    moved = hidden_by([Condition.CAMERA_MOVED, Condition.BLOCKED, Condition.LIGHTING])
    assert moved == {Condition.BLOCKED, Condition.BLURRED, Condition.MOLD_CHANGED}
    assert hidden_by([Condition.BLURRED, Condition.LIGHTING]) == {Condition.MOLD_CHANGED}
    assert hidden_by([Condition.SCORE_DRIFT]) == frozenset()


def test_health_bits_follow_hr_114_with_mold_changed_appended() -> None:
    assert [c.bit for c in Condition] == [1, 2, 4, 8, 16, 32, 64]
    assert health_bits([Condition.CAMERA_MOVED, Condition.MOLD_CHANGED]) == 0b100_0010


def test_every_text_is_in_english_and_korean() -> None:
    for table in (TITLES, ACTIONS):
        assert set(table) == set(Condition)
    for table in (TITLES, ACTIONS, MEASURES):
        for texts in table.values():
            assert set(texts) == {"en", "ko"} and all(texts.values())
    result = CheckResult(Condition.CAMERA_MOVED, "corner_shift_px", 12.34, 3.0)
    assert alert_message("new", result) == (
        "Camera moved: view moved 12.3 px (limit 3.0 px). Put the camera back in place, or take a new "
        "health reference.")
    assert alert_message("end", result, "ko").startswith("카메라 위치 틀어짐: 해제됨")
