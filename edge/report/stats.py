"""Figures the report derives from the verdict list: confusion matrix, stage latencies, NG rate trends.

The verdicts are `Verdict`s, as the run produced them; a ground truth (`Verdict.truth`, "ok" or a
defect name) is there only for simulator footage, and a part without one is left out of the escape
counts, never guessed. Headline rates (accuracy, escape rate, ...) are not computed here: they come
from the replay summary, so the report and `replay --json` cannot disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from edge.verdict import Decision, Verdict

DECISIONS = ("OK", "NG", "NO_DECISION")
TRUTHS = ("OK", "NG")


def truth_of(verdict: Verdict) -> tuple[str, str | None] | None:
    """("OK" | "NG", defect or None) from the verdict's ground truth, or None when there is none."""
    if not verdict.truth:
        return None
    return ("OK", None) if verdict.truth.lower() == "ok" else ("NG", verdict.truth)


def confusion(by_class: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """counts[OK|NG truth][decision], folded from the replay summary's `confusion` (truth class ->
    verdict class: "ok" / a defect -> "OK" / "NO_DECISION" / the defect named), so the report shows
    the same counts as `replay --json`, computed once."""
    counts = {t: dict.fromkeys(DECISIONS, 0) for t in TRUTHS}
    for truth, row in by_class.items():
        for predicted, n in row.items():
            decision = predicted if predicted in DECISIONS else "NG"
            counts["OK" if truth == "ok" else "NG"][decision] += n
    return counts


def by_truth_class(by_class: dict[str, dict[str, int]]) -> dict[str, Counter[str]]:
    """Per ground-truth class ("ok" or a defect name), folded from the replay summary's `confusion`
    (truth class -> verdict class): parts, OK / NG / NO_DECISION verdicts, and `right` (OK for ok; NG
    with that very class for a defect) and `wrong_class` (NG, but another defect): an NG verdict for a
    crack that was a flash is not a correct verdict, whatever the OK/NG matrix says."""
    classes: dict[str, Counter[str]] = {}
    for truth, row in by_class.items():
        counter = classes.setdefault(truth, Counter())
        for predicted, n in row.items():
            decision = predicted if predicted in DECISIONS else "NG"
            counter["parts"] += n
            counter[decision] += n
            if decision == "OK" and truth == "ok":
                counter["right"] += n
            elif decision == "NG" and truth != "ok":
                same = predicted in (truth, "NG") or truth == "ng"  # "NG": a model without defect names
                counter["right" if same else "wrong_class"] += n
    return dict(sorted(classes.items(), key=lambda item: (item[0] != "ok", item[0])))


def stage_timings_ms(verdicts: Sequence[Verdict]) -> dict[str, np.ndarray]:
    """Per stage, all its timings; stages in pipeline order (first seen first)."""
    stages: dict[str, list[float]] = {}
    for verdict in verdicts:
        for stage, ms in verdict.timings_ms.items():
            stages.setdefault(stage, []).append(float(ms))
    return {stage: np.asarray(values) for stage, values in stages.items()}


def decisions_by_cavity(verdicts: Sequence[Verdict]) -> dict[int, Counter[str]]:
    """Per cavity, how many OK / NG / NO_DECISION verdicts and ESCAPE (truth NG, verdict OK)."""
    counts: dict[int, Counter[str]] = {}
    for verdict in verdicts:
        counter = counts.setdefault(verdict.cavity, Counter())
        counter[verdict.decision.name] += 1
        truth = truth_of(verdict)
        if truth is not None and truth[0] == "NG" and verdict.decision is Decision.OK:
            counter["ESCAPE"] += 1
    return counts


def auto_window(n_per_cavity: int) -> int:
    """A rolling window of ~1/10 of the run, between 5 and 200 shots (the alert rule's default)."""
    return int(np.clip(n_per_cavity // 10, 5, 200))


def ng_rate_by_cavity(verdicts: Sequence[Verdict], window: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per cavity: (shot, NG rate in % over the last `window` verdicts of that cavity).

    Only NG verdicts count (NO_DECISION is a vision-system problem, shown in the tables, not a
    process trend). The first points average over fewer than `window` verdicts. Without shot numbers
    (a PLC that sends none) a verdict is placed by its count within its cavity (1, 2, ...), so the x
    axis counts that cavity's parts, as the window does (see `has_shots` for the axis label).
    """
    rows: dict[int, list[tuple[float, float]]] = {}
    shots = has_shots(verdicts)
    for verdict in verdicts:
        points = rows.setdefault(verdict.cavity, [])
        x = float(verdict.shot) if shots and verdict.shot is not None else float(len(points) + 1)
        points.append((x, verdict.decision is Decision.NG))
    trends = {}
    for cavity, points in rows.items():
        points.sort(key=lambda p: p[0])
        xs, is_ng = (np.asarray(col, float) for col in zip(*points, strict=True))
        total = np.concatenate([[0.0], np.cumsum(is_ng)])
        ends = np.arange(1, len(is_ng) + 1)
        starts = np.maximum(ends - window, 0)
        trends[cavity] = (xs, 100.0 * (total[ends] - total[starts]) / (ends - starts))
    return trends


def has_shots(verdicts: Sequence[Verdict]) -> bool:
    """Whether every verdict carries its shot number (the NG-rate chart's x axis is then "shot")."""
    return bool(verdicts) and all(v.shot is not None for v in verdicts)
