"""The demo's summary: the runtime's verdicts scored against the footage truth (edge/replay.py's
scorer), set beside what the virtual PLC and the MQTT subscriber actually received.

Counts are in parts (one part per cavity per shot): one PLC result answers a whole shot and carries
every cavity's verdict (VERDICT + CAVITY_NG_MASK), so `plc_results` = shots answered x cavities,
while MQTT carries one `result` message per part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.demo.session import DemoRun
from edge.replay import summarize, with_timeline_truth
from edge.verdict import Verdict
from sim.timeline import Timeline
from sim.virtual_plc.record import plc_summary


def verdict_from_row(row: Mapping[str, Any]) -> Verdict:
    """A JSONL row (Verdict.to_dict) back into a Verdict for the scorer."""
    return Verdict(seq=row["seq"], part_id=row["part_id"], shot=row["shot"], cavity=row["cavity"],
                   frame_id=row["frame_id"], decision=row["decision_code"], defect=row["defect"],
                   score=row["score"], error_code=row["error_code"], timings_ms=row["timings_ms"],
                   t_trigger_s=row["t_trigger_s"], t_wall_s=row["t_wall_s"], truth=row["truth"])


def demo_summary(run: DemoRun, timeline: Timeline,
                 parts_requested: int) -> tuple[dict[str, Any], list[Verdict]]:
    """The summary dict (the `--json` output) and the scored verdicts (for the report)."""
    cavities = len(timeline.rois_xywh)
    verdicts = with_timeline_truth([verdict_from_row(r) for r in run.verdict_rows], timeline)
    scored = summarize(verdicts, run.runtime)
    plc = plc_summary(run.records)
    summary = {
        "parts_requested": parts_requested,
        "shots": len(timeline.shots),
        "cavities": cavities,
        "parts_triggered": len(run.records) * cavities,
        "parts_judged": len(verdicts),
        "plc_results": int(plc["arrived"]) * cavities,
        "mqtt_results": run.mqtt["results"],
        "accuracy": scored["accuracy"],
        "escape_rate": scored["escape_rate"],
        "false_reject_rate": scored["false_reject_rate"],
        "decisions": run.mqtt["decisions"],
        "ng_by_cavity": run.mqtt["ng_by_cavity"],
        "plc": {**plc, "disagreements": _plc_disagreements(run, verdicts)},
        "mqtt": {"broker": run.broker, **run.mqtt, "complete": run.mqtt_complete},
        "latency_ms": scored["latency_ms"],
        "deadline_misses": scored["deadline_misses"],
        "per_cavity": scored["per_cavity"],
        "confusion": scored["confusion"],
        "runtime_exit_code": run.runtime_exit_code,
    }
    summary["consistent"] = (summary["parts_judged"] == summary["parts_triggered"] == summary["plc_results"]
                             == summary["mqtt_results"] and run.runtime_exit_code == 0)
    return {**summary, "scored": scored}, verdicts


def _plc_disagreements(run: DemoRun, verdicts: list[Verdict]) -> int:
    """Shots whose verdict at the PLC is not the worst of the runtime's cavity verdicts for that part
    (what the PLC acts on must be what the runtime decided)."""
    worst: dict[int | None, int] = {}
    for v in verdicts:
        worst[v.part_id] = max(worst.get(v.part_id, 0), int(v.decision))
    return sum(r.arrived and worst.get(r.part_id) != r.verdict_code for r in run.records)


def human_lines(summary: Mapping[str, Any]) -> list[str]:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f} %"

    plc, mqtt = summary["plc"], summary["mqtt"]
    verdicts = plc["verdicts"]
    lines = [
        f"MoldPilot demo: {summary['shots']} shots x {summary['cavities']} cavities",
        f"  parts      triggered {summary['parts_triggered']}, judged {summary['parts_judged']}, "
        f"at the PLC {summary['plc_results']}, over MQTT {summary['mqtt_results']}",
        f"  accuracy   {pct(summary['accuracy'])} against the simulator's ground truth "
        f"(escape {pct(summary['escape_rate'])}, false reject {pct(summary['false_reject_rate'])})",
        f"  PLC        {plc['arrived']}/{plc['shots']} shots answered: {verdicts[1]} OK, {verdicts[2]} NG, "
        f"{verdicts[3]} NO_DECISION; latency p50 {plc['latency_ms_p50']} ms, "
        f"p99 {plc['latency_ms_p99']} ms; "
        f"{plc['echo_mismatches']} part id echo mismatches, {plc['disagreements']} disagreements",
        f"  MQTT       a subscriber on {mqtt['broker']} got {mqtt['results']} results "
        f"({', '.join(f'{k} {n}' for k, n in sorted(mqtt['decisions'].items())) or 'none'})",
    ]
    for cavity, figures in summary["per_cavity"].items():
        lines.append(f"  cavity {cavity}   accuracy {pct(figures['accuracy'])} "
                     f"over {figures['parts']} parts, "
                     f"NG {summary['ng_by_cavity'].get(cavity, 0)}")
    lines.append("  result     " + ("OK: every triggered part was judged and reached the PLC and MQTT"
                                    if summary["consistent"] else "FAILED: the counts above disagree"))
    if "report" in summary:
        lines.append(f"  report     {summary['report']}")
    return lines
