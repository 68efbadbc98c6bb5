"""Every kind of unusable training data gets one clear line and exit code 2, before any training."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from tests.models.synthetic_parts import write_parts


def run_train(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["train", str(data), "--out", str(tmp_path / "m.onnx"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    # one error line, last (warnings that list skipped files may come before it)
    last = err.splitlines()[-1]
    assert last.startswith("moldpilot: error: ")
    assert not (tmp_path / "m.onnx").exists()
    return last


def test_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "does not exist" in run_train(tmp_path / "nope", tmp_path, capsys)


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data" / "ok").mkdir(parents=True)
    assert "holds no class folders with images" in run_train(tmp_path / "data", tmp_path, capsys)


def test_single_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_parts(tmp_path / "data", 6, 2, ("ok",))
    assert "single class" in run_train(data, tmp_path, capsys)


def test_no_ok_class_names_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_parts(tmp_path / "data", 6, 2, ("spot", "notch"))
    err = run_train(data, tmp_path, capsys)
    assert "no ok class folder 'ok'" in err and "--ok-class" in err and "spot" in err


def test_too_few_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_parts(tmp_path / "data", 3, 2, ("ok", "spot"))
    err = run_train(data, tmp_path, capsys)
    assert "too few images" in err and "ok: 3, spot: 3" in err and "at least 5" in err


def test_too_few_after_skipping_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_parts(tmp_path / "data", 5, 2, ("ok", "spot"))
    (data / "spot" / "000.png").write_bytes(b"")
    err = run_train(data, tmp_path, capsys)
    assert "after skipping 1 unreadable file(s)" in err and "spot: 4" in err


def test_bad_val_fraction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_parts(tmp_path / "data", 5, 2, ("ok", "spot"))
    assert "--val-fraction" in run_train(data, tmp_path, capsys, "--val-fraction", "1.5")
