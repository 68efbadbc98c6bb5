"""Station panel: counters, the PLC link, MQTT, camera and model states as of the moment they are read
(each answer carries its time; static/panel.js greys a panel whose answer is late), and per-cavity NG
rate over the last hour or shift as a small server-side SVG chart."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge.console.ctx import Ctx
from edge.console.i18n import Translator

CHART_BINS = 12
CHART_WH = (520, 180)
CAVITY_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
# What the links' status() calls report (plc_bridge/modbus/server.py, plc_bridge/ascii/link.py), in
# the order shown; last_trigger_age_s is the console's own (the newest verdict's trigger).
PLC_KEYS = ("protocol", "port_connected", "fault", "peer_lost", "heartbeat_age_s", "triggers",
            "last_trigger_age_s", "results_posted", "results_acked", "pending", "in_flight", "overrun",
            "results_dropped",
            "port_reconnects")


def routes(ctx: Ctx) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        return ctx.page(request, "panel.html")

    async def state(request: Request) -> Response:
        return JSONResponse(panel_state(ctx.hooks.view(), ctx.hooks.history, ctx.settings.shift_h))

    async def chart(request: Request) -> Response:
        window_s = ctx.settings.shift_h * 3600 if request.query_params.get("window") == "shift" else 3600.0
        svg = ng_rate_svg(ctx.hooks.history.ng_rates(window_s, CHART_BINS), window_s, request.state.tr)
        return Response(svg, media_type="image/svg+xml")

    return [Route("/panel", page), Route("/api/panel", state), Route("/api/panel/ngrate.svg", chart)]


def panel_state(view: Any, history: Any, shift_h: float) -> dict[str, Any]:
    counters = view.counters
    latency = counters.get("latency_ms", {}).get("total", {})
    verdicts = counters.get("verdicts", {})
    errors = {name: n for name, n in counters.get("errors", {}).items() if n}
    camera = view.camera or {}
    return {
        "as_of_s": round(time.time(), 3),
        "counters": {"parts": sum(verdicts.values()), "ok": verdicts.get("OK", 0),
                     "ng": verdicts.get("NG", 0), "no_decision": verdicts.get("NO_DECISION", 0),
                     "deadline_misses": counters.get("deadline_misses", 0),
                     "frames_in": counters.get("frames_in", 0),
                     "frames_dropped": counters.get("frames_dropped", 0),
                     "triggers_rejected": counters.get("triggers_rejected", 0)},
        "no_decision_by_reason": errors,
        "plc": _plc(view),
        "mqtt": {"connected": view.mqtt["connected"], "backlog": view.mqtt["backlog"],
                 "dropped": view.mqtt["dropped"]} if view.mqtt else None,
        "camera": {"state": camera.get("state", "file"), "fps": _fps(counters),
                   "losses": camera.get("losses", 0), "reconnects": camera.get("recoveries", 0)},
        "model": {**view.model, "p99_ms": latency.get("p99"), "p50_ms": latency.get("p50")},
        "health": view.health,  # bits, raised, fail_safe, and each check's figure and bound
        "ng_hour": {str(c): list(v) for c, v in history.totals(3600.0).items()},
        "ng_shift": {str(c): list(v) for c, v in history.totals(shift_h * 3600).items()},
    }


def _plc(view: Any) -> dict[str, Any] | None:
    if view.plc is None:
        return None
    plc = dict(view.plc)
    if "fault" in plc:  # the link's fault text is for the log; the panel says yes / no in its language
        plc["fault"] = bool(plc["fault"])
    triggered = [v.t_trigger_s for v in view.latest_verdicts.values()]
    plc["last_trigger_age_s"] = round(view.t_s - max(triggered), 1) if triggered else None
    return {k: plc[k] for k in PLC_KEYS if k in plc}


def _fps(counters: dict[str, Any]) -> float | None:
    elapsed_s = counters.get("elapsed_s") or 0.0
    return round(counters.get("frames_in", 0) / elapsed_s, 1) if elapsed_s > 0 else None


def ng_rate_svg(rates: dict[int, list[float | None]], window_s: float, tr: Translator) -> str:
    """A line per cavity: NG rate (0..max, at least 10 %) per slice of the window, oldest left."""
    width, height = CHART_WH
    left, bottom, top = 40, 22, 10
    plot_w, plot_h = width - left - 90, height - bottom - top
    peak = max([0.1, *(r for series in rates.values() for r in series if r is not None)])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#999"/>',
             f'<text x="2" y="{top + 8}">{100 * peak:.0f}%</text>',
             f'<text x="2" y="{top + plot_h}">0%</text>',
             f'<text x="{left}" y="{height - 6}">-{window_s / 3600:g} h</text>',
             f'<text x="{left + plot_w - 30}" y="{height - 6}">{tr.t("panel.now")}</text>']
    for k, (cavity, series) in enumerate(rates.items()):
        colour = CAVITY_COLOURS[k % len(CAVITY_COLOURS)]
        step = plot_w / max(1, len(series) - 1)
        points = [f"{left + i * step:.1f},{top + plot_h * (1 - r / peak):.1f}"
                  for i, r in enumerate(series) if r is not None]
        if points:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(points)}"/>')
            parts += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="3" fill="{colour}"/>'
                      for p in points]  # a slice alone (a fresh start) still shows
        parts.append(f'<text x="{left + plot_w + 8}" y="{top + 12 + 14 * k}" fill="{colour}">'
                     f'{tr.t("cavity.n", n=cavity)}</text>')
    if not rates:
        parts.append(f'<text x="{left + 10}" y="{top + plot_h / 2}">{tr.t("panel.no_parts")}</text>')
    parts.append("</svg>")
    return "".join(parts)
