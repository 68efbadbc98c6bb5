"""Replay of real simulator footage (MJPG .avi + timeline) with a real ONNX model, and its scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from edge.commands.replay_cmd import default_config
from edge.replay import replay, summarize
from edge.verdict import Decision, ErrorCode, Verdict
from sim.footage import FootageSettings, write_footage
from sim.timeline import Timeline, load_timeline

SHOTS, CAVITIES, FRAMES_PER_SHOT = 4, 4, 10


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video = tmp_path_factory.mktemp("footage") / "line.avi"
    write_footage(video, FootageSettings(shots=SHOTS, seed=11, cavities=CAVITIES, fps=10, cycle_s=1.0,
                                         cell_px=96, defect_rate=0.5))
    return video


def run_replay(footage: Path, model: Path, **kwargs: object):
    return replay(footage, default_config(footage, str(model)), load_timeline(footage), progress=False,
                  **kwargs)  # type: ignore[arg-type]


def test_timeline_replay_gives_one_verdict_per_shot_and_cavity(footage: Path, tiny_model: Path) -> None:
    timeline = load_timeline(footage)
    assert isinstance(timeline, Timeline)
    result = run_replay(footage, tiny_model)
    pairs = sorted((v.shot, v.cavity) for v in result.verdicts)
    assert pairs == [(s, c) for s in range(1, SHOTS + 1) for c in range(1, CAVITIES + 1)]
    truth = {(s.shot, c.cavity): (c.part_id, c.defect or "ok") for s in timeline.shots for c in s.cavities}
    assert {(v.shot, v.cavity): (v.part_id, v.truth) for v in result.verdicts} == truth
    assert {v.frame_id for v in result.verdicts} == {s.trigger_frame for s in timeline.shots}
    summary = result.summary
    assert summary["frames_in"] == SHOTS * FRAMES_PER_SHOT
    counts = (summary["frames_judged"], summary["triggers"], summary["parts"])
    assert counts == (SHOTS, SHOTS, SHOTS * CAVITIES)
    assert summary["accuracy"] is not None and set(summary["per_cavity"]) == set(range(1, CAVITIES + 1))
    assert summary["drops"] == 0 and summary["fps"] > 0


def test_every_frame_replay_judges_every_frame(footage: Path, tiny_model: Path) -> None:
    summary = run_replay(footage, tiny_model, every_frame=True).summary
    assert summary["frames_judged"] == summary["frames_in"] == SHOTS * FRAMES_PER_SHOT
    assert summary["frames_dropped"] == 0 and summary["triggers"] == 0
    timeline = load_timeline(footage)
    assert timeline is not None
    dwell_frames = sum(s.dwell_last - s.dwell_first + 1 for s in timeline.shots)
    assert summary["scored_parts"] == dwell_frames * CAVITIES  # scored only where parts dwell


def test_truncated_footage_is_reported_and_every_shot_answered(
    footage: Path, tiny_model: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.avi"
    cut.write_bytes(footage.read_bytes()[: footage.stat().st_size // 2])
    (tmp_path / "cut.avi.timeline.json").write_text(
        Path(f"{footage}.timeline.json").read_text(encoding="utf-8"), encoding="utf-8")
    result = run_replay(cut, tiny_model)
    assert len(result.verdicts) == SHOTS * CAVITIES
    missing = [v for v in result.verdicts if v.error_code is ErrorCode.NO_FRAME]
    assert missing and all(v.decision is Decision.NO_DECISION for v in missing)
    assert result.summary["frames_in"] < SHOTS * FRAMES_PER_SHOT
    # Issue 17 item 8: the parts without a frame are counted apart and not scored (they were never
    # judged: neither false rejects nor escapes), and the summary says the file is short.
    summary = result.summary
    assert summary["truncated"] and summary["parts_without_frame"] == len(missing)
    assert summary["scored_parts"] == len(result.verdicts) - len(missing)
    assert summary["ok_parts"] + summary["ng_parts"] == summary["scored_parts"]


def test_cli_replay_prints_json_and_writes_the_report(
    footage: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report"
    assert main(["replay", str(footage), "--model", str(tiny_model), "--json", "--report", str(report)]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("frames_in", "frames_judged", "triggers", "parts", "accuracy", "escape_rate",
                "false_reject_rate", "fps", "per_cavity", "latency_ms"):
        assert key in summary
    assert len((report / "verdicts.jsonl").read_text().splitlines()) == summary["parts"]
    assert json.loads((report / "summary.json").read_text())["parts"] == summary["parts"]
    assert (report / "index.html").is_file()


def test_cli_replay_without_a_model_says_how_to_fix_it(footage: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(footage), "--model", str(tmp_path / "nope.onnx")]) == 2
    assert "--model" in capsys.readouterr().err


def scored(truth: str, decision: Decision, cavity: int = 1) -> Verdict:
    error = ErrorCode.DEADLINE_MISSED if decision is Decision.NO_DECISION else ErrorCode.NONE
    return Verdict(seq=1, part_id=1, shot=1, cavity=cavity, frame_id=0, decision=decision,
                   defect="flash" if decision is Decision.NG else None, score=0.5, error_code=error,
                   timings_ms={}, t_trigger_s=0.0, t_wall_s=0.0, truth=truth)


def test_scoring_counts_no_decision_as_rejected_never_as_correct() -> None:
    verdicts = [scored("ok", Decision.OK), scored("ok", Decision.NG), scored("ok", Decision.NO_DECISION),
                scored("ok", Decision.OK), scored("flash", Decision.NG, 2), scored("flash", Decision.OK, 2),
                scored("flash", Decision.NO_DECISION, 2)]
    snapshot = {"frames_in": 7, "frames_judged": 7, "triggers": 7, "elapsed_s": 1.0, "verdicts": {},
                "errors": {}, "deadline_misses": 2, "frames_dropped": 0, "sinks": {}, "mean_batch": 1.0,
                "latency_ms": {}, "source_error": None}
    summary = summarize(verdicts, snapshot)
    assert summary["accuracy"] == round(3 / 7, 6)
    assert summary["escape_rate"] == round(1 / 3, 6)  # the NO_DECISION part was rejected, not escaped
    assert summary["false_reject_rate"] == 0.5
    assert summary["per_cavity"][2]["false_reject_rate"] is None  # no ok parts in cavity 2
    assert summary["confusion"]["flash"] == {"NO_DECISION": 1, "OK": 1, "flash": 1}
