"""Issue 17: an ROI outside the frame passed `doctor` and `config check`, then every part was NO_DECISION.
Both now compare the ROIs with the frame the source really delivers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.doctor import Status, run_checks

FRAME_W, FRAME_H = 96, 64


def station(tmp_path: Path, tiny_model: Path, second_roi: str) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "0001.png"), np.full((FRAME_H, FRAME_W, 3), 128, np.uint8))
    shutil.copy(tiny_model, tmp_path / "model.onnx")
    path = tmp_path / "station.yaml"
    path.write_text("station: {site: s, line: l, name: p}\n"
                    f"source: {{kind: folder, uri: {images}, mode: triggered}}\n"
                    "model: {path: model.onnx}\n"
                    f"cavities: [{{id: 1, roi: [0, 0, 32, 32]}}, {{id: 2, roi: {second_roi}}}]\n",
                    encoding="utf-8")
    return path


def config_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "config", "check", str(path)],
                          capture_output=True, text=True, check=False)


def test_config_check_refuses_an_roi_outside_the_frame(tmp_path: Path, tiny_model: Path) -> None:
    done = config_check(station(tmp_path, tiny_model, "[80, 0, 32, 32]"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if "error" in line] == [done.stderr.splitlines()[-1]]
    assert "cavity 2: roi [80, 0, 32, 32]" in done.stderr and f"{FRAME_W}x{FRAME_H} frame" in done.stderr


def test_config_check_passes_rois_inside_the_frame(tmp_path: Path, tiny_model: Path) -> None:
    done = config_check(station(tmp_path, tiny_model, "[64, 32, 32, 32]"))  # touches the corner: inside
    assert done.returncode == 0, done.stderr
    assert f"rois      all 2 inside the {FRAME_W}x{FRAME_H} frame" in done.stdout


def test_doctor_fails_the_camera_on_an_roi_outside_the_frame(tmp_path: Path, tiny_model: Path) -> None:
    results = {r.name: r for r in run_checks(station(tmp_path, tiny_model, "[0, 40, 32, 32]"))}
    camera = results["camera"]
    assert camera.status is Status.FAIL
    assert "cavity 2" in camera.detail and f"{FRAME_W}x{FRAME_H} frame" in camera.detail
    assert "ROI editor" in camera.fix
