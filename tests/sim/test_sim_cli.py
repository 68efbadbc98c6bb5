"""`moldpilot sim dataset|footage` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from sim.dataset import read_labels
from sim.timeline import read_timeline


def test_dataset_verb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "parts"
    argv = ["sim", "dataset", "--out", str(out), "--count", "6", "--seed", "4", "--size", "64"]
    assert main([*argv, "--defect-rate", "0.5", "--shape", "housing"]) == 0
    rows = read_labels(out)
    assert len(rows) == 6 and {r.shape for r in rows} == {"housing"}
    assert all((out / r.file).is_file() for r in rows)
    assert f"wrote 6 crops of 64 px to {out}" in capsys.readouterr().out


def test_footage_verb_with_a_worn_cavity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "line.avi"
    argv = ["sim", "footage", "--out", str(out), "--shots", "2", "--seed", "1", "--cavities", "2"]
    argv += ["--fps", "4", "--cycle-s", "1", "--defect-rate", "0", "--cavity-defect-rate", "1:1.0"]
    assert main([*argv, "--shape", "gear"]) == 0
    timeline = read_timeline(out)
    assert timeline.frame_count == 8 and timeline.shape == "gear"
    assert [[c.label for c in s.cavities] for s in timeline.shots] == [["ng", "ok"]] * 2
    assert f"{out}.timeline.json" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["dataset", "--count", "0"],
        ["dataset", "--count", "5", "--size", "16"],
        ["dataset", "--count", "5", "--defect-rate", "1.5"],
        ["dataset", "--count", "5", "--mold", "-1"],
        ["footage", "--shots", "1", "--cavities", "3"],
        ["footage", "--shots", "1", "--cavity-defect-rate", "2=0.5"],
        ["footage", "--shots", "1", "--cavity-defect-rate", "2:-0.1"],
    ],
)
def test_bad_arguments_exit_2_with_one_error_line(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", args[0], "--out", str(tmp_path / "x.avi"), "--seed", "1", *args[1:]])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1


def test_errors_only_the_library_sees_are_one_line_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sim", "footage", "--out", str(tmp_path / "x.avi"), "--shots", "1", "--seed", "1"]
    assert main([*argv, "--cavities", "2", "--cavity-defect-rate", "5:0.5"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "moldpilot: error: cavity 5 has a defect rate but the mold has 2 cavities"
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.png").write_bytes(b"")
    assert main(["sim", "dataset", "--out", str(tmp_path / "full"), "--count", "1", "--seed", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
