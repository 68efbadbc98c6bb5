"""Replay report: a self-contained folder whose numbers match the verdicts it was given."""

from __future__ import annotations

import html
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.report import stats, write_report
from edge.report.plots import marker_label_x, nice_ticks
from edge.report.stats import ng_rate_by_cavity
from edge.verdict import Decision, ErrorCode, Evidence, Verdict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# (truth, decision, how many): a hand-built confusion matrix with every cell different.
CELLS = [("ok", "OK", 11), ("ok", "NG", 2), ("ok", "NO_DECISION", 3),
         ("ng", "OK", 1), ("ng", "NG", 7), ("ng", "NO_DECISION", 4)]


def part(decision: str, *, cavity: int = 1, shot: int | None = None, part_id: int | None = None,
         defect: str | None = None, truth: str | None = None, timings_ms: dict[str, float] | None = None,
         error: ErrorCode = ErrorCode.DEADLINE_MISSED) -> Verdict:
    """A valid Verdict as the pipeline makes them: NG names its defect, NO_DECISION its error."""
    d = Decision[decision]
    return Verdict(seq=part_id or 0, part_id=part_id, shot=shot, cavity=cavity, frame_id=None, decision=d,
                   defect=(defect or "flash") if d is Decision.NG else defect,
                   score=None if d is Decision.NO_DECISION else (0.9 if d is Decision.NG else 0.1),
                   error_code=error if d is Decision.NO_DECISION else ErrorCode.NONE,
                   timings_ms=timings_ms or {}, t_trigger_s=0.0, t_wall_s=0.0, truth=truth)


def hand_built_verdicts() -> list[Verdict]:
    verdicts: list[Verdict] = []
    for truth, decision, n in CELLS:
        for _ in range(n):
            i = len(verdicts)
            verdicts.append(part(decision, part_id=500 + i, shot=i // 2, cavity=i % 2 + 1,
                                 timings_ms={"preprocess": 0.4 + 0.01 * i, "infer": 5.0 + 0.1 * i},
                                 truth="ok" if truth == "ok" else "flash"))
    return verdicts


def evidence_of(verdicts: list[Verdict], crop: np.ndarray,
                heatmap: np.ndarray | None) -> list[tuple[Verdict, Evidence]]:
    return [(v, Evidence(crop, heatmap, None)) for v in verdicts]


SUMMARY = {"frames_in": 30, "frames_judged": 28, "parts": 28, "accuracy": 18 / 28, "escape_rate": 1 / 12,
           "fps": 123.4, "per_cavity": {"1": {"parts": 14, "accuracy": 0.6, "ng_rate": 0.3}},
           # the replay summary's confusion of the same verdicts (edge/replay.py): truth -> verdict class
           "confusion": {"ok": {"OK": 11, "flash": 2, "NO_DECISION": 3},
                         "flash": {"OK": 1, "flash": 7, "NO_DECISION": 4}},
           "model": "<script>alert(1)</script>"}


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, str, list[Verdict]]:
    verdicts = hand_built_verdicts()
    ng = [v for v in verdicts if v.decision is Decision.NG]
    evidence = evidence_of(ng, np.full((64, 80, 3), 120, np.uint8), np.eye(4, dtype=np.float32))
    index = write_report(tmp_path / "report", SUMMARY, verdicts, evidence)
    return index, index.read_text(encoding="utf-8"), ng


def cell_numbers(row_html: str) -> list[int]:
    return [int(x) for x in re.findall(r"<td(?: class=\"\w+\")?>(\d+)</td>", row_html)]


def test_index_references_only_existing_valid_pngs(report: tuple[Path, str, list[Verdict]]) -> None:
    index, page, _ = report
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) >= 1 + 2 + 9  # NG-rate chart, two latency histograms, nine NG parts
    for src in sources:
        assert not src.startswith(("/", "http")) and src.startswith("img/")  # relative, self-contained
        path = index.parent / src
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert cv2.imread(str(path)) is not None
    assert "<script" not in page and "http" not in page  # no JS, no CDN


def test_confusion_matrix_matches_hand_built_verdicts(report: tuple[Path, str, list[Verdict]]) -> None:
    _, page, _ = report
    rows = {label: line for line in page.splitlines() for label in ("truth OK", "truth NG")
            if f">{label}</td>" in line}
    assert cell_numbers(rows["truth OK"]) == [11, 2, 3, 16]
    assert cell_numbers(rows["truth NG"]) == [1, 7, 4, 12]
    assert 'class="bad">1</td>' in rows["truth NG"]  # the escape is highlighted


def test_gallery_shows_the_ng_parts_given(report: tuple[Path, str, list[Verdict]]) -> None:
    index, page, ng = report
    gallery = page[page.index('class="gallery"'):]
    assert gallery.count("<figure>") == len(ng) == 9  # 2 false rejects + 7 true NG
    for verdict in ng:
        assert f"part {verdict.part_id} ·" in gallery
    image = cv2.imread(str(index.parent / "img" / "ng_000.png"))
    assert min(image.shape[:2]) >= 192  # small crops are enlarged for reading


def test_summary_values_escaped_and_missing_ones_na(report: tuple[Path, str, list[Verdict]]) -> None:
    _, page, _ = report
    assert html.escape("<script>alert(1)</script>") in page
    assert "<td>64.29%</td>" in page  # accuracy 18/28
    assert re.search(r"Frames dropped</td><td>n/a</td>", page)
    assert re.search(r"<td class=\"label\">2</td><td>n/a</td>", page)  # cavity 2 absent from per_cavity


def test_report_without_truth_timings_or_evidence(tmp_path: Path) -> None:
    verdicts = [part("OK"), part("NG", cavity=1)]
    page = write_report(tmp_path, {}, verdicts).read_text()
    assert "No ground truth" in page and "No stage timings" in page and "No NG parts" in page
    assert (tmp_path / "img" / "ng_rate_by_cavity.png").read_bytes()[:8] == PNG_MAGIC


def test_verdict_truth_string_is_understood(tmp_path: Path) -> None:
    """Verdict.truth is "ok" or the defect name."""
    verdicts = [part("OK", truth="ok"), part("OK", truth="flash"), part("NO_DECISION", truth="ok")]
    evidence = evidence_of(verdicts[2:], np.zeros((8, 8, 3), np.uint8), None)
    summary = {"confusion": {"ok": {"OK": 1, "NO_DECISION": 1}, "flash": {"OK": 1}}}  # as replay counts them
    page = write_report(tmp_path, summary, verdicts, evidence).read_text()
    rows = {label: line for line in page.splitlines() for label in ("truth OK", "truth NG")
            if f">{label}</td>" in line}
    assert cell_numbers(rows["truth OK"]) == [1, 0, 1, 2]
    assert cell_numbers(rows["truth NG"]) == [1, 0, 0, 1]
    assert "NO_DECISION DEADLINE_MISSED score n/a" in page and "truth OK" in page


def test_rolling_ng_rate_per_cavity() -> None:
    verdicts = [part("NG" if s >= 4 else "OK", shot=s) for s in range(8)]
    shots, rate = ng_rate_by_cavity(verdicts, window=4)[1]
    np.testing.assert_array_equal(shots, np.arange(8))
    np.testing.assert_allclose(rate, [0, 0, 0, 0, 25, 50, 75, 100])


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0, 10, [0, 2, 4, 6, 8, 10]),
    (4.2, 11.3, [4, 6, 8, 10, 12]),
    (0.013, 0.21, [0, 0.05, 0.1, 0.15, 0.2, 0.25]),
])
def test_nice_ticks(lo: float, hi: float, expected: list[float]) -> None:
    assert nice_ticks(lo, hi) == pytest.approx(expected)


def test_a_wrong_defect_class_is_not_a_correct_verdict(tmp_path: Path) -> None:
    """Issue 17: NG with the wrong class counted as correct in the report; a per-class table tells."""
    verdicts = [part(d, shot=i, defect=defect, truth=truth)
                for i, (truth, d, defect) in enumerate([("flash", "NG", "crack"), ("flash", "NG", "flash"),
                                                        ("flash", "OK", None), ("ok", "OK", None)])]
    # the replay summary's confusion of these verdicts (edge/replay.py): truth -> verdict class
    confusion = {"flash": {"crack": 1, "flash": 1, "OK": 1}, "ok": {"OK": 1}}
    classes = stats.by_truth_class(confusion)
    assert list(classes) == ["ok", "flash"]
    assert (classes["flash"]["right"], classes["flash"]["wrong_class"], classes["flash"]["OK"]) == (1, 1, 1)
    page = write_report(tmp_path, {"parts": 4, "confusion": confusion}, verdicts).read_text()
    assert "<h2>Per defect class</h2>" in page and "NG, wrong defect class" in page
    assert re.search(r'<td class="label">flash</td><td>3</td><td>1</td><td class="warn">1</td>', page)


def test_capture_all_zero_on_replay_gets_a_note_not_an_empty_chart(tmp_path: Path) -> None:
    verdicts = [part("OK", shot=i, timings_ms={"capture": 0.0, "infer": 4.0 + i}) for i in range(10)]
    page = write_report(tmp_path, {"parts": 10}, verdicts).read_text()
    assert "capture: 0 ms for every part, so no chart" in page
    assert [p.name for p in (tmp_path / "img").glob("latency_*.png")] == ["latency_01.png"]  # infer only


def test_a_marker_label_at_the_right_edge_stays_inside_the_chart() -> None:
    right, label_w = 696, 60
    assert marker_label_x(right - 1, label_w, right) + label_w <= right  # p99 at the maximum: flipped left
    assert marker_label_x(100, label_w, right) == 104  # elsewhere: right of its line, as before


def test_ng_rate_without_shot_numbers_counts_parts_of_each_cavity() -> None:
    """Issue 17: the demo's PLC triggers carry no shot, and the axis said "shot" over a list index."""
    verdicts = [part("NG" if i == 3 and c == 2 else "OK", cavity=c) for i in range(4) for c in (1, 2)]
    assert not stats.has_shots(verdicts)
    xs, rates = stats.ng_rate_by_cavity(verdicts, window=2)[2]
    assert list(xs) == [1.0, 2.0, 3.0, 4.0] and list(rates) == [0.0, 0.0, 0.0, 50.0]
