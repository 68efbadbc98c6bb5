"""What shadow mode costs the active path (issue 21): triggered latency through the production wiring
(edge/bench/latency.py) without and with a candidate judging beside the active model, interleaved
round by round, each round in a fresh process. Target: p99 trigger-to-verdict within 1 ms.

The candidate is the active model's own file: a candidate of the same architecture costs the same to
run, and the shadow then agrees 100 % (a check that it judged the same parts). The paced triggers give
the latency (p50/p99 of trigger -> verdict, and of that minus the model run, pooled over the rounds);
a burst of back-to-back triggers after them gives the triggers/s the line sustains with the shadow on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.bench.latency import pooled, triggered_latency
from edge.bench.stages import fresh
from sim.timeline import Timeline

TRIGGERS = 150
TRIGGER_GAP_S = 0.03  # as the suite's latency stage
BURST = 60
TARGET_P99_EXTRA_MS = 1.0


def shadow_stage(model: Path, footage: Path, timeline: Timeline, rounds: int,
                 progress: Callable[[str], None]) -> dict[str, Any]:
    """Interleaved rounds without and with the shadow; the pooled percentiles side by side, as ratios."""
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    for round_index in range(rounds):
        for name in runs:
            progress(f"shadow round {round_index + 1}/{rounds}: {TRIGGERS} triggers + {BURST} back to back, "
                     f"{name} the shadow")
            runs[name].append(fresh(triggered_latency, model, footage, timeline.rois_xywh, timeline.fps,
                                    TRIGGERS, TRIGGER_GAP_S, 0, model if name == "with" else None, BURST))
    side = {name: _pooled(rs) for name, rs in runs.items()}
    extra_ms = side["with"]["total_ms"]["p99"] - side["without"]["total_ms"]["p99"]
    shadows = [r["shadow"] for r in runs["with"]]
    n_cavities = len(timeline.rois_xywh)
    return {
        "triggers_per_round": TRIGGERS, "burst_per_round": BURST, "rounds": rounds,
        **side,
        "ratios": {
            f"{figure}_{p}": _ratio(side["with"][figure][p], side["without"][figure][p])
            for figure in ("total_ms", "minus_model_ms") for p in ("p50", "p99")
        } | {"burst_triggers_per_s": _ratio(side["with"]["burst_triggers_per_s"],
                                            side["without"]["burst_triggers_per_s"])},
        "p99_extra_ms": round(extra_ms, 3),
        "shadow": {"parts_offered": sum(s["parts_offered"] for s in shadows),
                   "parts_judged": sum(s["parts_judged"] for s in shadows),
                   "dropped": sum(s["dropped"] for s in shadows),
                   "errors": sum(s["errors"] for s in shadows),
                   "agreement_active": [s["agreement_active"] for s in shadows]},
        "one_verdict_per_trigger_and_cavity": all(
            r["verdicts"] == TRIGGERS * n_cavities and r["burst_verdicts"] == BURST * n_cavities
            for rs in runs.values() for r in rs),
        "target_p99_extra_ms": TARGET_P99_EXTRA_MS,
        "target_met": extra_ms <= TARGET_P99_EXTRA_MS,
    }


def _pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Every round's per-trigger samples together, and each round's burst rate."""
    rates = [r["burst_triggers_per_s"] for r in rounds]
    return {"total_ms": pooled(rounds, "total"), "minus_model_ms": pooled(rounds, "minus_model"),
            "model_p50_ms": [r["model_p50_ms"] for r in rounds],
            "burst_triggers_per_s": max(rates), "burst_rounds": rates,
            "p99_rounds_ms": [r["total_ms"]["p99"] for r in rounds]}


def _ratio(with_shadow: float, without: float) -> float | None:
    return round(with_shadow / without, 3) if without else None


def format_shadow(result: dict[str, Any]) -> str:
    w, wo, ratios, shadow = result["with"], result["without"], result["ratios"], result["shadow"]
    ok = "ok" if result["target_met"] else "MISSED"
    return "\n".join([
        f"shadow cost (candidate = the active model's file; {result['rounds']} interleaved rounds of "
        f"{result['triggers_per_round']} triggers, pooled)",
        f"  trigger -> verdict p50   {wo['total_ms']['p50']:.2f} -> {w['total_ms']['p50']:.2f} ms "
        f"(x{ratios['total_ms_p50']})",
        f"  trigger -> verdict p99   {wo['total_ms']['p99']:.2f} -> {w['total_ms']['p99']:.2f} ms "
        f"(x{ratios['total_ms_p99']}, {result['p99_extra_ms']:+.2f} ms; <= "
        f"{result['target_p99_extra_ms']} {ok})",
        f"  minus model p50 / p99    {wo['minus_model_ms']['p50']:.2f} / "
        f"{wo['minus_model_ms']['p99']:.2f} -> {w['minus_model_ms']['p50']:.2f} / "
        f"{w['minus_model_ms']['p99']:.2f} ms",
        f"  back-to-back triggers/s  {wo['burst_triggers_per_s']} -> {w['burst_triggers_per_s']} "
        f"(x{ratios['burst_triggers_per_s']})",
        f"  shadow: {shadow['parts_judged']} parts judged, {shadow['dropped']} dropped, "
        f"{shadow['errors']} errors of {shadow['parts_offered']} offered; "
        f"agreement {shadow['agreement_active']}",
    ])
