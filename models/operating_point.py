"""The operating point: a threshold on P(defect) that the defect counts at hand can vouch for.

Scores come from images the scoring model has not seen (out-of-fold scores over every training image in
models/trainer.py, validation scores in models/good_only.py). The rule:

1. **Verified.** "Escape rate <= target" is shown when the one-sided 95 % Clopper-Pearson upper bound of
   the escape rate, from (escapes, defective images), is at most the target. The threshold is the largest
   one that keeps the bound there: with k escapes allowed, the (k+1)-th lowest defect score. Zero escapes
   in n images verify a target t only when n >= ln(0.05) / ln(1 - t): 598 defect images for 0.5 %. The
   old rule (1 / n <= target, one 20 % split) called 200 enough, and a model "verified" that way passes
   1.5 % of defects as often as not.
2. **Cannot verify.** When even zero escapes would not verify the target, the threshold is the point
   estimate the user asked for (floor(target * n) escapes allowed: usually the lowest defect score) and
   the result says how many defect images in total would verify it (`defects_needed`).
3. **False-reject cap.** If that threshold rejects more than `max_false_reject` of the good parts, it is
   raised until it does not: the user's cap wins over an unverifiable escape target, instead of a model
   that silently rejects most good parts (72 % of good solar cells, issue 18). The escape rate at the
   raised point is reported, and the target is then not met.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta

CONFIDENCE = 0.95
# Default cap on the good parts rejected when the escape target cannot be verified: about one good part in
# a hundred sent to re-inspection. On the casting photos 5 of 1,133 defects score near 0 out of fold, so
# the 0.5 % point estimate would reject 5 % of good parts; at 1 % the held-out accuracy stays at 99.7 %.
MAX_FALSE_REJECT = 0.01
MAX_DEFECTS_SEARCHED = 1_000_000  # beyond this the target is not worth a sample-size figure


def upper_bound(failures: int, trials: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen as failures / trials (1.0 if no trials)."""
    if trials == 0 or failures >= trials:
        return 1.0
    return float(beta.ppf(confidence, failures + 1, trials - failures))


def interval(failures: int, trials: int) -> tuple[float, float]:
    """Two-sided 95 % Clopper-Pearson interval of failures / trials ((0, 1) if no trials)."""
    if trials == 0:
        return 0.0, 1.0
    low = 0.0 if failures == 0 else float(beta.ppf(0.025, failures, trials - failures + 1))
    high = 1.0 if failures == trials else float(beta.ppf(0.975, failures + 1, trials - failures))
    return low, high


def defects_needed(escape_rate: float, target_escape: float) -> int | None:
    """Defect images that, at the observed escape rate, would verify the target; None if none would.

    A rate at or above the target cannot be verified by more images of the same kind: the model has to
    get better (more photos of the classes it misses). Searched by doubling, then bisection.
    """
    if escape_rate >= target_escape or target_escape <= 0.0:
        return None

    def verifies(n: int) -> bool:
        return upper_bound(math.floor(escape_rate * n), n) <= target_escape

    high = 1
    while not verifies(high):
        high *= 2
        if high > MAX_DEFECTS_SEARCHED:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if verifies(middle) else (middle, high)
    return high


def _allowed_escapes(n_defective: int, target_escape: float) -> int:
    """Most escapes whose upper bound stays at the target; -1 if zero escapes already exceed it."""
    allowed = -1
    while allowed + 1 < n_defective and upper_bound(allowed + 1, n_defective) <= target_escape:
        allowed += 1
    return allowed


def choose_threshold(p_defect: np.ndarray, defective: np.ndarray, target_escape: float,
                     max_false_reject: float = 1.0) -> dict:
    """Threshold on P(defect) (NG if >= threshold) by the rule in the module docstring.

    Returns threshold, resolved (the escape target is verified), capped (raised for the false-reject
    cap), escapes / false_rejects at the threshold, defects_needed (None when verified or unreachable)
    and a one-line English note.
    """
    defect_scores = np.sort(p_defect[defective])
    good_scores = np.sort(p_defect[~defective])[::-1]
    n_def, n_ok = len(defect_scores), len(good_scores)
    allowed = _allowed_escapes(n_def, target_escape)
    resolved = allowed >= 0
    if not resolved:
        allowed = int(np.floor(target_escape * n_def + 1e-9))
    threshold = float(defect_scores[min(allowed, n_def - 1)])
    capped = False
    max_rejects = int(np.floor(max_false_reject * n_ok + 1e-9))
    if n_ok and max_rejects < n_ok and (good_scores >= threshold).sum() > max_rejects:
        # Just above the (max_rejects + 1)-th highest good score: exactly max_rejects good parts reach it.
        threshold = float(np.nextafter(good_scores[max_rejects], np.inf))
        capped = True
    escapes = int((defect_scores < threshold).sum())
    false_rejects = int((good_scores >= threshold).sum())
    resolved = resolved and upper_bound(escapes, n_def) <= target_escape
    needed = None if resolved else defects_needed(escapes / n_def, target_escape)
    return {"threshold": threshold, "resolved": bool(resolved), "capped": capped, "escapes": escapes,
            "false_rejects": false_rejects, "defects_needed": needed,
            "note": _note(n_def, escapes, target_escape, resolved, capped, needed, max_false_reject)}


def _note(n_def: int, escapes: int, target: float, resolved: bool, capped: bool, needed: int | None,
          max_false_reject: float) -> str:
    if resolved:
        return (f"{escapes} escape(s) of {n_def} defect images: 95 % upper bound "
                f"{upper_bound(escapes, n_def):.4f} <= target {target}: verified")
    cap = (f"; threshold raised so that at most {max_false_reject:.1%} of good parts are rejected "
           f"(--max-false-reject), {escapes} of {n_def} defects pass there") if capped else ""
    more = (f"about {needed} defect images in total would verify it" if needed is not None else
            "more images of the same kind cannot verify it: the model misses too many defects")
    return f"cannot verify the escape target {target} with {n_def} defect images; {more}{cap}"
