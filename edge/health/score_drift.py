"""Score drift: do the model's live scores still look like its scores on good parts at commissioning?

The population stability index (PSI) compares the live window's histogram with the reference's over
ten bins cut at the reference's deciles, so every bin holds a tenth of the reference and the figure
does not depend on where the scores sit in [0, 1]; 0.1 is "some shift", 0.25 "significant" by the
customary reading. The Kolmogorov-Smirnov distance is reported beside it for the console. A rising
NO_DECISION rate (deadline misses, model errors) is the other sign the model side is not well, and is
judged on the same window of verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.health.conditions import CheckResult, Condition
from edge.health.thresholds import HealthThresholds

PSI_BINS = 10
_EPSILON = 1e-4  # an empty bin counts as this share, so the logarithm stays finite


def psi(reference: np.ndarray, live: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `live` against `reference` (bins at the reference's quantiles)."""
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, live, side="right"), minlength=len(edges) + 1)
    e = np.maximum(expected / max(len(reference), 1), _EPSILON)
    a = np.maximum(actual / max(len(live), 1), _EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_distance(reference: np.ndarray, live: np.ndarray) -> float:
    """Largest gap between the two empirical distribution functions."""
    grid = np.sort(np.concatenate([reference, live]))
    cdf_ref = np.searchsorted(np.sort(reference), grid, side="right") / len(reference)
    cdf_live = np.searchsorted(np.sort(live), grid, side="right") / len(live)
    return float(np.abs(cdf_ref - cdf_live).max())


def check_score_drift(
    live_scores: Sequence[float],
    no_decisions: int,
    verdicts: int,
    reference_scores: np.ndarray,
    reference_no_decision_rate: float,
    th: HealthThresholds,
) -> CheckResult | None:
    """The window's scores (of verdicts that had one) and NO_DECISION count out of `verdicts`; None when
    the window is too short to say anything (fewer than drift_min_scores verdicts)."""
    if verdicts < th.drift_min_scores:
        return None
    rate_rise = no_decisions / verdicts - reference_no_decision_rate
    measures = {"no_decision_rate_rise": (rate_rise, th.no_decision_rate)}
    details = {"no_decision_rate_rise": rate_rise}
    # Scores only when there are enough of both: a window of mostly NO_DECISION says drift by its rate.
    if len(reference_scores) >= PSI_BINS and len(live_scores) >= th.drift_min_scores // 2:
        live = np.asarray(live_scores, np.float32)
        details["psi"] = psi(reference_scores, live)
        details["ks"] = ks_distance(reference_scores, live)
        measures["psi"] = (details["psi"], th.drift_psi)
    return CheckResult.worst(Condition.SCORE_DRIFT, measures, details)
