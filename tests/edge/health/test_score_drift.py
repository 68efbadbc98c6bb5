"""Score drift: PSI and KS of a window of live scores against good-part scores, and the NO_DECISION rate."""

from __future__ import annotations

import numpy as np
import pytest

from edge.health.conditions import Condition
from edge.health.monitor import HealthMonitor
from edge.health.reference import Reference
from edge.health.score_drift import check_score_drift, ks_distance, psi
from edge.health.thresholds import HealthThresholds

TH = HealthThresholds()
RNG = np.random.default_rng(5)
GOOD = RNG.beta(1.2, 30.0, 2000).astype(np.float32)  # a good model: most good parts score near 0


def test_same_distribution_is_stable_and_a_shifted_one_is_not() -> None:
    same = RNG.beta(1.2, 30.0, 200)
    shifted = RNG.beta(3.0, 20.0, 200)  # the model now finds more "defect" in good parts
    assert psi(GOOD, same) < 0.1 and ks_distance(GOOD, same) < 0.12
    assert psi(GOOD, shifted) > TH.drift_psi and ks_distance(GOOD, shifted) > 0.3


def test_check_needs_a_full_enough_window() -> None:
    assert check_score_drift(list(GOOD[:10]), 0, 10, GOOD, 0.0, TH) is None
    result = check_score_drift(list(RNG.beta(1.2, 30.0, 200)), 0, 200, GOOD, 0.0, TH)
    assert result is not None and not result.active and result.condition is Condition.SCORE_DRIFT


def test_a_rising_no_decision_rate_is_drift_even_with_good_scores() -> None:
    result = check_score_drift(list(GOOD[:140]), 60, 200, GOOD, 0.01, TH)
    assert result is not None and result.active and result.measure == "no_decision_rate_rise"
    assert result.figure == pytest.approx(0.3 - 0.01)


def test_monitor_raises_and_clears_score_drift(tmp_path: object) -> None:
    frames = [np.full((64, 64, 3), 100, np.uint8)] * 3
    monitor = HealthMonitor(Reference.build(frames, [(8, 8, 48, 48)], good_scores=GOOD))
    events = []
    for t in range(60):  # 4 cavities a trigger: the window fills after 15 triggers
        events += monitor.observe_verdicts(RNG.beta(1.2, 30.0, 4), float(t))
    assert events == []
    for t in range(60, 120):
        events += monitor.observe_verdicts(RNG.beta(4.0, 12.0, 4), float(t))
    assert [e.phase for e in events][:1] == ["new"] and events[0].condition is Condition.SCORE_DRIFT
    assert monitor.state().health_bits == Condition.SCORE_DRIFT.bit
    for t in range(120, 260):
        events += monitor.observe_verdicts(RNG.beta(1.2, 30.0, 4), float(t))
    assert events[-1].phase == "end" and monitor.state().health_bits == 0
