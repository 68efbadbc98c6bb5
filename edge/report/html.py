"""The replay report: one self-contained folder (index.html + img/*.png) a supervisor can open.

No JavaScript, no CDN, relative links only, so the folder can be zipped, mailed or copied to a USB
stick and still opens. Every value from the run is HTML-escaped; a missing value reads "n/a".
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.ng_store import overlay, verdict_caption
from edge.percentiles import percentiles
from edge.report import plots, stats
from edge.verdict import Evidence, Verdict

NA = "n/a"
GALLERY_MIN_SIDE_PX = 192  # small cavity crops are enlarged so the overlay text stays readable

COUNT, PERCENT = ",.0f", ".2%"  # format specs; rates in the summary are fractions (0.995 -> 99.50%)
# (summary key, label, format spec) in the order a supervisor reads them.
SUMMARY_ROWS = [
    ("frames_in", "Frames in", COUNT), ("frames_judged", "Frames judged", COUNT),
    ("triggers", "Triggers", COUNT), ("parts", "Parts judged", COUNT),
    ("accuracy", "Accuracy", PERCENT), ("escape_rate", "Escape rate (NG parts passed as OK)", PERCENT),
    ("false_reject_rate", "False-reject rate (OK parts rejected)", PERCENT),
    ("fps", "Throughput (frames judged per second)", ".1f"), ("drops", "Frames dropped", COUNT),
    ("deadline_misses", "Deadline misses (sent as NO_DECISION)", COUNT),
]

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f2f2f2; } td.label, th.label { text-align: left; }
td.bad { background: #f8d0d0; font-weight: bold; } td.warn { background: #fbe7c6; }
img.chart { max-width: 100%; border: 1px solid #ddd; margin: 4px 0; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 200px; font-size: 0.85em; }
figure img { width: 200px; border: 1px solid #999; }
"""


def write_report(
    out_dir: Path,
    summary: dict[str, Any],
    verdicts: Sequence[Verdict],
    evidence: Sequence[tuple[Verdict, Evidence]] = (),
    *,
    ng_rate_window: int | None = None,
    gallery_limit: int = 60,
) -> Path:
    """Write `out_dir`/index.html and its charts; returns the path of index.html.

    `summary` is the replay JSON summary (see SUMMARY_ROWS, plus ``per_cavity`` {cavity: {parts,
    accuracy, ng_rate}} and optional ``title``, ``model``, ``source``); `evidence` is the NG parts'
    (verdict, its crop and heatmap), of which the first
    `gallery_limit` are shown. `ng_rate_window` (shots) defaults to ~1/10 of the run.
    """
    img_dir = Path(out_dir) / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    sections = [
        _summary_section(summary),
        _confusion_section(summary.get("confusion") or {}),
        _class_section(summary.get("confusion") or {}),
        _cavity_section(summary, verdicts, img_dir, ng_rate_window),
        _latency_section(verdicts, img_dir),
        _gallery_section(evidence, img_dir, gallery_limit),
    ]
    title = str(summary.get("title") or "MoldPilot replay report")
    meta_keys = {"model": "Model", "source": "Footage"}
    meta = " · ".join(f"{label}: {_e(summary[key])}" for key, label in meta_keys.items() if summary.get(key))
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body>\n<h1>{_e(title)}</h1>\n"
            f'<p class="meta">{meta + " · " if meta else ""}generated {_e(generated)}</p>\n'
            + "\n".join(sections) + "\n</body></html>\n")
    index = Path(out_dir) / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _or_na(value: Any) -> str:
    return NA if value is None else str(value)


def _words(*parts: Any) -> str:
    """Parts joined by spaces, leaving out empty ones (no "NG  score" when there is no defect)."""
    return " ".join(str(p) for p in parts if p not in (None, ""))


def _fmt(value: Any, spec: str) -> str:
    """A number formatted with `spec`; "n/a" when missing, other values as they are."""
    if value is None:
        return NA
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return str(value)
    return format(float(value), spec)


def _table(headers: list[str], rows: list[list[str]],
           cell_class: dict[tuple[int, int], str] | None = None) -> str:
    """An HTML table; all text is escaped here. The first column is a left-aligned label.

    `cell_class` maps (row, column) of body cells to a CSS class ("bad", "warn") to highlight them.
    """
    classes = cell_class or {}
    head = "".join(_cell("th", h, "label" if c == 0 else None) for c, h in enumerate(headers))
    body = ["<tr>" + "".join(_cell("td", cell, "label" if c == 0 else classes.get((r, c)))
                             for c, cell in enumerate(row)) + "</tr>"
            for r, row in enumerate(rows)]
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(body) + "\n</table>"


def _cell(tag: str, text: str, css: str | None) -> str:
    return (f'<{tag} class="{css}">' if css else f"<{tag}>") + f"{_e(text)}</{tag}>"


def _img(path: Path, alt: str, css: str = "chart") -> str:
    return f'<img class="{css}" src="img/{_e(path.name)}" alt="{_e(alt)}">'


def _cavity_order(cavity: str) -> tuple[bool, int, str]:
    """Cavity names are strings here (JSON keys); "2" sorts before "10"."""
    return (not cavity.isdigit(), int(cavity) if cavity.isdigit() else 0, cavity)


def _summary_section(summary: dict[str, Any]) -> str:
    rows = [[label, _fmt(summary.get(key), kind)] for key, label, kind in SUMMARY_ROWS]
    return "<h2>Summary</h2>\n" + _table(["Figure", "Value"], rows)


def _confusion_section(by_class: dict[str, dict[str, int]]) -> str:
    counts = stats.confusion(by_class)
    if not any(sum(row.values()) for row in counts.values()):
        return "<h2>Confusion matrix</h2>\n<p>No ground truth in these verdicts (live footage): n/a.</p>"
    rows = [[f"truth {t}", *(str(counts[t][d]) for d in stats.DECISIONS), str(sum(counts[t].values()))]
            for t in stats.TRUTHS]
    # Escapes (NG parts passed) are the costly mistake; false rejects and no-decisions cost scrap.
    marks = {(1, 1): "bad" if counts["NG"]["OK"] else "", (0, 2): "warn" if counts["OK"]["NG"] else "",
             (0, 3): "warn" if counts["OK"]["NO_DECISION"] else ""}
    headers = ["", *(f"verdict {d}" for d in stats.DECISIONS), "total"]
    return ("<h2>Confusion matrix</h2>\n<p>Parts with a known ground truth; rows are the truth, columns "
            "the verdict. NO_DECISION parts are rejected by the PLC (fail-safe).</p>\n"
            + _table(headers, rows, marks))


def _class_section(by_class: dict[str, dict[str, int]]) -> str:
    classes = stats.by_truth_class(by_class)
    if not classes:
        return ""
    rows, marks = [], {}
    for r, (name, n) in enumerate(classes.items()):
        wrong = "-" if name == "ok" else str(n["wrong_class"])
        rows.append([name, str(n["parts"]), str(n["right"]), wrong,
                     *(str(n[d]) for d in stats.DECISIONS)])
        if name != "ok" and n["wrong_class"]:
            marks[(r, 3)] = "warn"
        if name != "ok" and n["OK"]:
            marks[(r, 4)] = "bad"  # an escape
    headers = ["Truth class", "Parts", "Right verdict", "NG, wrong defect class", "verdict OK", "verdict NG",
               "verdict NO_DECISION"]
    return ("<h2>Per defect class</h2>\n<p>A defect part is judged right only when the verdict is NG with "
            "its own class; NG with another class is counted apart, not as correct.</p>\n"
            + _table(headers, rows, marks))


def _cavity_section(summary: dict[str, Any], verdicts: Sequence[Verdict], img_dir: Path,
                    window: int | None) -> str:
    per_cavity = {str(c): figures for c, figures in (summary.get("per_cavity") or {}).items()}
    counts = {str(c): n for c, n in stats.decisions_by_cavity(verdicts).items()}
    rows = []
    for cavity in sorted({*per_cavity, *counts}, key=_cavity_order):
        figures, n = per_cavity.get(cavity) or {}, counts.get(cavity, {})
        rows.append([cavity, _fmt(figures.get("parts"), COUNT), _fmt(figures.get("accuracy"), PERCENT),
                     _fmt(figures.get("ng_rate"), PERCENT), str(n.get("NG", 0)), str(n.get("NO_DECISION", 0)),
                     str(n.get("ESCAPE", 0))])
    table = _table(["Cavity", "Parts", "Accuracy", "NG rate", "NG verdicts", "NO_DECISION", "Escapes"], rows)
    parts_per_cavity = max((sum(n[d] for d in stats.DECISIONS) for n in counts.values()), default=0)
    window = window or stats.auto_window(parts_per_cavity)
    trends = {str(c): xy for c, xy in stats.ng_rate_by_cavity(verdicts, window).items()}
    series = {f"cavity {c}": trends[c] for c in sorted(trends, key=_cavity_order)}
    # One part per cavity per shot: the window counts parts of that cavity; the axis counts shots
    # only when the verdicts carry them (a PLC trigger without a shot number does not).
    x_label = "shot" if stats.has_shots(verdicts) else "part of the cavity (in the order judged)"
    chart = plots.line_chart(series, img_dir / "ng_rate_by_cavity.png",
                             title=f"NG rate per cavity (rolling {window} parts of each cavity)",
                             x_label=x_label, y_label="NG rate [%]", y_min_span=5.0)
    return ("<h2>Per cavity</h2>\n" + table + "\n" + _img(chart, "NG rate per cavity over shots")
            + f"\n<p>Each point is the share of NG verdicts over the last {window} parts of that cavity; "
            "a rising line is a cavity drifting out of process.</p>")


def _latency_section(verdicts: Sequence[Verdict], img_dir: Path) -> str:
    timings = stats.stage_timings_ms(verdicts)
    if not timings:
        return "<h2>Latency per stage</h2>\n<p>No stage timings in these verdicts: n/a.</p>"
    rows, charts = [], []
    flat = []
    for i, (stage, values) in enumerate(timings.items()):
        pct = percentiles(values)
        rows.append([stage, str(values.size), *(f"{pct[k]:.2f}" for k in ("p50", "p90", "p99", "max"))])
        if not values.any():  # nothing to draw: one bar at 0 on an empty axis reads as a broken chart
            flat.append(stage)
            continue
        chart = plots.histogram(values, img_dir / f"latency_{i:02d}.png", title=f"Stage '{stage}' latency",
                                x_label="milliseconds", markers={"p50": pct["p50"], "p99": pct["p99"]})
        charts.append(_img(chart, f"latency histogram of stage {stage}"))
    table = _table(["Stage", "Samples", "p50 [ms]", "p90 [ms]", "p99 [ms]", "max [ms]"], rows)
    note = (f"<p>{_e(', '.join(flat))}: 0 ms for every part, so no chart. On a replay the frame is read "
            "before its trigger, so capture takes no time; on a line it is the wait for the camera.</p>\n"
            if flat else "")
    return "<h2>Latency per stage</h2>\n" + table + "\n" + note + "\n".join(charts)


def _gallery_section(evidence: Sequence[tuple[Verdict, Evidence]], img_dir: Path, limit: int) -> str:
    if not evidence:
        return "<h2>NG parts</h2>\n<p>No NG parts in this run.</p>"
    figures = []
    for i, (verdict, pixels) in enumerate(evidence[:limit]):
        crop = pixels.crop_bgr
        scale = max(1.0, GALLERY_MIN_SIDE_PX / min(crop.shape[:2]))
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        path = img_dir / f"ng_{i:03d}.png"
        record = verdict.to_dict()  # the caption is drawn from the same record the NG store writes
        if not cv2.imwrite(str(path), overlay(crop, pixels.heatmap, verdict_caption(record))):
            raise OSError(f"could not write gallery image {path}")
        lines = [f"part {_or_na(verdict.part_id)} · shot {_or_na(verdict.shot)} · cavity {verdict.cavity}",
                 _words(verdict.decision.name, verdict.defect, record["error"], "score",
                        _fmt(verdict.score, ".3f"))]
        truth = stats.truth_of(verdict)
        if truth is not None:
            lines.append(_words("truth", *truth))
        figures.append(f"<figure>{_img(path, 'NG part with heatmap', 'part')}"
                       f"<figcaption>{'<br>'.join(map(_e, lines))}</figcaption></figure>")
    shown = f"{min(limit, len(evidence))} of {len(evidence)}"
    return (f"<h2>NG parts ({shown})</h2>\n<p>Heatmap overlay: red is where the model saw the defect.</p>\n"
            f'<div class="gallery">{"".join(figures)}</div>')
