"""The station's figures (edge/metrics/figures.py) as Prometheus metric families, built at scrape time.

A custom collector rather than Counter / Gauge objects updated along the way: the figures already
exist as one dict (shared with the MQTT status), so rendering that dict on each scrape is the only
place the numbers are turned into series, and nothing can drift between the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector


class FiguresCollector(Collector):
    def __init__(self, figures: Callable[[], dict[str, Any]]) -> None:
        self._figures = figures

    def describe(self) -> list[Metric]:
        return []  # the series depend on what the station has attached; nothing to declare up front

    def collect(self) -> Iterator[Metric]:
        f = self._figures()
        yield _by_two("moldpilot_verdicts", "Verdicts by decision and cavity", "decision", f["verdicts"])
        yield _by_two("moldpilot_defects", "NG verdicts by defect and cavity", "defect", f["defects"])
        yield _latency(f["latency"])
        if f["frames"] is not None:
            frames = CounterMetricFamily("moldpilot_frames", "Frames read, judged and dropped (free-run)",
                                         labels=["state"])
            for state, n in f["frames"].items():
                frames.add_metric([state], n)
            yield frames
        if f["sinks"] is not None:
            for kind, text in (("dropped", "Verdicts a full sink queue dropped"),
                               ("errors", "Verdicts a sink failed to write"),
                               ("skipped", "Verdicts a sink could not store for want of disk space")):
                family = CounterMetricFamily(f"moldpilot_sink_{kind}", text, labels=["sink"])
                for name, counts in f["sinks"].items():
                    family.add_metric([name], counts[kind])
                yield family
        if f["deadline_misses"] is not None:
            yield CounterMetricFamily("moldpilot_deadline_misses", "Verdicts sent NO_DECISION for lateness",
                                      value=f["deadline_misses"])
        for name, text in (("camera_up", "1 while the camera delivers frames"),
                           ("plc_link_up", "1 while the PLC link is served and the PLC heard")):
            if f[name] is not None:
                yield GaugeMetricFamily(f"moldpilot_{name}", text, value=float(f[name]))
        if f["mqtt"] is not None:
            yield GaugeMetricFamily("moldpilot_mqtt_connected", "1 while the broker session is up",
                                    value=float(f["mqtt"]["connected"]))
            yield GaugeMetricFamily("moldpilot_mqtt_backlog", "Messages waiting in the durable outbox",
                                    value=f["mqtt"]["backlog"])
        if f.get("shadow") is not None:
            yield from _shadow(f["shadow"])
        if f["model"] is not None:
            info = InfoMetricFamily("moldpilot_model", "The model and the execution provider it runs on")
            info.add_metric([], f["model"])
            yield info


def _shadow(shadow: dict[str, Any]) -> Iterator[Metric]:
    """The shadow candidate: parts judged and dropped, agreement over its window (left out until known)."""
    parts = CounterMetricFamily("moldpilot_shadow_parts", "Parts the shadow candidate judged or dropped",
                                labels=["state"])
    parts.add_metric(["judged"], shadow["parts_judged"])
    parts.add_metric(["dropped"], shadow["dropped"])
    yield parts
    for key, text in (("agreement_active", "Share of the window's parts the candidate decided as the active "
                                           "model did"),
                      ("agreement_labels", "Share of the window's labelled parts the candidate got right")):
        if shadow[key] is not None:
            yield GaugeMetricFamily(f"moldpilot_shadow_{key}", text, value=shadow[key])


def _by_two(name: str, text: str, label: str, nested: dict[str, dict[str, int]]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=[label, "cavity"])
    for value, per_cavity in nested.items():
        for cavity, n in per_cavity.items():
            family.add_metric([value, cavity], n)
    return family


def _latency(latency: dict[str, Any]) -> HistogramMetricFamily:
    family = HistogramMetricFamily("moldpilot_stage_latency_seconds", "Time per pipeline stage, per job",
                                   labels=["stage"])
    bounds = [*(str(b) for b in latency["buckets_s"]), "+Inf"]
    for stage, h in latency["stages"].items():
        family.add_metric([stage], list(zip(bounds, h["cumulative"], strict=True)), h["sum_s"])
    return family
