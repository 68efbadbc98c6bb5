"""Alert rules: lifecycle, rate limiting, texts, and the per-cavity NG-rate rule on simulator footage."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from edge.alerts.rules import Alert, AlertEngine, AlertRules
from edge.verdict import Decision, ErrorCode, Verdict
from sim.footage import FootagePlan, FootageSettings
from sim.timeline import Timeline


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def part(cavity: int = 1, decision: Decision = Decision.OK, defect: str | None = None,
         error: ErrorCode = ErrorCode.NONE, part_id: int = 1) -> Verdict:
    """A real Verdict, as the MQTT sink hands it to the engine."""
    score = None if decision is Decision.NO_DECISION else (0.9 if decision is Decision.NG else 0.1)
    return Verdict(part_id, part_id, part_id, cavity, part_id, decision, defect, score, error, {}, 0.0, 0.0)


def feed(engine: AlertEngine, parts: Iterator[Verdict] | list[Verdict]) -> list[Alert]:
    return [alert for p in parts for alert in engine.observe(p)]


def test_ng_streak_new_update_end_rate_limited() -> None:
    clock = Clock()
    engine = AlertEngine(AlertRules(ng_streak=3, rate_window=None, update_interval_s=60), "en", clock)
    ng = part(2, Decision.NG, "flash")
    assert feed(engine, [ng, ng]) == []
    (new,) = feed(engine, [ng])
    assert (new.type, new.code, new.cavity, new.severity) == ("new", "NG_STREAK", 2, "warning")
    assert new.message == "cavity 2: 3 NG parts in a row (last: flash)"
    assert feed(engine, [ng] * 5) == []  # within update_interval_s: no flood
    clock.now_s = 61.0
    (update,) = feed(engine, [ng])
    assert update.type == "update" and "9 NG parts in a row" in update.message
    assert feed(engine, [part(1)]) == []  # an OK part of another cavity does not end it
    (end,) = feed(engine, [part(2)])
    assert (end.type, end.key) == ("end", "NG_STREAK/2")
    assert end.message == "cavity 2: NG streak ended after 9 parts"


def test_no_decision_model_error_camera_alerts_end_after_decided_parts() -> None:
    engine = AlertEngine(AlertRules(ng_streak=None, rate_window=None, clear_after_parts=3), "en")
    alerts = feed(engine, [part(1, Decision.NO_DECISION, error=ErrorCode.MODEL_ERROR),
                           part(1, Decision.NO_DECISION, error=ErrorCode.NO_FRAME),
                           part(1, Decision.NO_DECISION, error=ErrorCode.DEADLINE_MISSED)])
    assert [(a.type, a.code, a.severity) for a in alerts] == [
        ("new", "MODEL_ERROR", "critical"),
        ("new", "CAMERA_LOST", "critical"),
        ("new", "NO_DECISION", "warning"),
    ]
    assert "DEADLINE_MISSED" in alerts[2].message
    ends = feed(engine, [part(1)] * 3)
    assert sorted(a.code for a in ends) == ["CAMERA_LOST", "MODEL_ERROR", "NO_DECISION"]
    assert {a.type for a in ends} == {"end"}


def test_plc_link_and_outbox_overflow_lifecycle_in_korean() -> None:
    engine = AlertEngine(AlertRules(), "ko")
    (lost,) = engine.link("plc", up=False, detail="Modbus TCP 192.168.0.10:502 응답 없음")
    assert lost.message == "PLC 통신 끊김: Modbus TCP 192.168.0.10:502 응답 없음"
    assert engine.link("plc", up=False) == []  # still the same problem
    assert [a.message for a in engine.link("plc", up=True)] == ["PLC 통신 복구"]
    (full,) = engine.outbox(dropped_total=12, backlog=100_000)
    assert full.message == "MQTT 미전송 보관함 초과: 오래된 메시지 12건 삭제"
    assert engine.outbox(dropped_total=12, backlog=5) == []
    assert [a.type for a in engine.outbox(dropped_total=12, backlog=0)] == ["end"]


def test_outbox_overflow_updates_its_count_and_ends_with_the_total() -> None:
    """Issue 17: the alert kept "4 dropped" when 21 were, and never ended."""
    clock = Clock()
    engine = AlertEngine(AlertRules(update_interval_s=60.0), "en", clock=clock)
    (new,) = engine.outbox(dropped_total=4, backlog=100)
    assert new.message == "MQTT outbox full: 4 oldest message(s) dropped"
    assert engine.outbox(dropped_total=21, backlog=100) == []  # an update is not due yet
    clock.now_s += 61.0
    (update,) = engine.outbox(dropped_total=21, backlog=80)  # no new drop: the pending count goes out
    assert (update.type, update.message) == ("update", "MQTT outbox full: 21 oldest message(s) dropped")
    (end,) = engine.outbox(dropped_total=21, backlog=0)
    assert (end.type, end.message) == ("end", "MQTT outbox drained (21 message(s) dropped in total)")


def test_disk_low_alert_counts_every_loss_and_ends_when_space_is_back() -> None:
    engine = AlertEngine(AlertRules(update_interval_s=0.0), "ko")
    (new,) = engine.disk(free_mb=800.0, low=True, lost={})
    assert (new.type, new.severity) == ("new", "critical")
    lost = {"ng_store": 3, "jsonl": 8}
    (update,) = engine.disk(free_mb=150.0, low=True, lost=lost)
    assert update.message == ("디스크 공간 부족: 여유 150 MB, 지금까지 저장 못 함: 불량 증거 3건, JSONL 8줄, "
                              "MQTT 메시지 0건")
    assert [a.type for a in engine.disk(free_mb=2000.0, low=False, lost=lost)] == ["end"]


def test_new_alert_budget_mutes_a_flood_and_counts_it() -> None:
    engine = AlertEngine(AlertRules(ng_streak=2, rate_window=None, max_new_per_hour=2), "en")
    ng = [part(c, Decision.NG, "burn") for c in (1, 2, 3, 4)]
    alerts = feed(engine, ng + ng)
    assert [a.cavity for a in alerts] == [1, 2]
    assert engine.suppressed == 2
    ends = feed(engine, [part(c) for c in (1, 2, 3, 4)])
    assert [a.cavity for a in ends] == [1, 2]  # the muted ones end silently


def test_alert_doc_schema() -> None:
    engine = AlertEngine(AlertRules(ng_streak=1, rate_window=None))
    (alert,) = engine.observe(part(3, Decision.NG, "warp", part_id=7))
    doc = alert.to_doc("line3", "press07", ts_s=0.0)
    assert set(doc) == {"schema", "id", "type", "severity", "code", "key", "line", "station", "part_id",
                        "cavity", "defect", "score", "ts", "message"}
    assert (doc["schema"], doc["part_id"], doc["defect"], doc["ts"]) == (
        "moldpilot.alert/1", 7, "warp", "1970-01-01T00:00:00.000+00:00")
    assert doc["id"] != alert.to_doc("line3", "press07")["id"]


# ---- the mold-maintenance signal on simulator footage ----------------------------------------------


def truth_parts(timeline: Timeline, first_part_id: int = 0) -> Iterator[dict[str, object]]:
    """What a perfect model says about each part of the footage (its ground truth), shot by shot."""
    for shot in timeline.shots:
        for truth in shot.cavities:
            ng = truth.label == "ng"
            yield part(truth.cavity, Decision.NG if ng else Decision.OK, truth.defect if ng else None,
                       part_id=first_part_id + truth.part_id)


@functools.cache
def footage(shots: int, seed: int, raised_cavity: int | None = None) -> Timeline:
    """Timeline (ground truth only, no video) of 4-cavity footage at 2 % NG, one cavity raised to 40 %."""
    rates = {} if raised_cavity is None else {raised_cavity: 0.4}
    settings = FootageSettings(shots, seed, cavities=4, defect_rate=0.02, cavity_defect_rates=rates)
    return FootagePlan(settings).timeline("x")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_cavity_rate_rule_fires_on_footage_with_one_bad_cavity(language: str) -> None:
    timeline = footage(300, seed=1, raised_cavity=3)
    engine = AlertEngine(AlertRules(ng_streak=None, rate_window=100, rate_threshold=0.15), language)  # type: ignore[arg-type]
    alerts = feed(engine, truth_parts(timeline))
    assert {(a.code, a.cavity) for a in alerts} == {("CAVITY_NG_RATE", 3)}
    assert alerts[0].type == "new"
    word = "cavity 3: NG" if language == "en" else "3번 캐비티 불량률"
    assert alerts[0].message.startswith(word), alerts[0].message


def test_cavity_rate_rule_against_its_own_baseline() -> None:
    """Cavity 3 runs at the line's 2 % for 120 shots, then at 40 %: the alert names its own baseline."""
    before = footage(120, seed=2)
    after = footage(100, seed=3, raised_cavity=3)
    rules = AlertRules(ng_streak=None, rate_window=50, rate_threshold=0.9, baseline_factor=6.0)
    engine = AlertEngine(rules, "ko")
    assert feed(engine, truth_parts(before)) == []
    alerts = feed(engine, truth_parts(after, first_part_id=10_000))
    assert [(a.type, a.cavity) for a in alerts][:1] == [("new", 3)]
    assert {a.cavity for a in alerts} == {3}
    assert "(최근 50샷, 기준 " in alerts[0].message and "아직 없음" not in alerts[0].message
