"""Folding one shot's cavity verdicts into the PLC's one result block."""

from __future__ import annotations

from edge.sinks.plc import fold
from edge.verdict import Decision, ErrorCode, Verdict

CLASSES = ["ok", "short_shot", "flash", "black_spot"]


def verdict(cavity: int, decision: Decision, score: float | None, defect: str | None = None,
            error: ErrorCode = ErrorCode.NONE, total_ms: float = 20.0) -> Verdict:
    return Verdict(seq=41, part_id=123456, shot=7, cavity=cavity, frame_id=1, decision=decision,
                   defect=defect, score=score, error_code=error, timings_ms={"total": total_ms},
                   t_trigger_s=0.0, t_wall_s=0.0)


def test_all_ok() -> None:
    result = fold([verdict(1, Decision.OK, 0.1), verdict(2, Decision.OK, 0.2, total_ms=31.4)], CLASSES)
    assert (result.seq, result.part_id, result.verdict_code) == (41, 123456, 1)
    assert (result.defect_class_code, result.score_milli) == (0, 200)
    assert (result.cavity_ng_mask, result.cycle_ms) == (0, 31)


def test_worst_cavity_decides_and_mask_names_the_cavities() -> None:
    result = fold([verdict(1, Decision.OK, 0.1), verdict(2, Decision.NG, 0.93, "flash"),
                   verdict(3, Decision.NG, 0.7, "black_spot"), verdict(4, Decision.OK, 0.2)], CLASSES)
    assert result.verdict_code == 2 and result.cavity_ng_mask == 0b0110
    assert result.defect_class_code == CLASSES.index("flash") and result.score_milli == 930


def test_no_decision_wins_and_carries_its_error() -> None:
    result = fold([verdict(1, Decision.NG, 0.9, "flash"),
                   verdict(2, Decision.NO_DECISION, None, error=ErrorCode.DEADLINE_MISSED)], CLASSES)
    assert result.verdict_code == 3 and result.error_code == int(ErrorCode.DEADLINE_MISSED)
    assert result.cavity_ng_mask == 0b11
