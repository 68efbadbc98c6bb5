"""`moldpilot run -c station.yaml`: the production entry point.

Builds source, model, judge, sinks and pipeline from the config and runs until SIGTERM/SIGINT, which
drain: no new triggers are taken, every accepted trigger is judged, the sinks are flushed and closed,
the final counters are printed as JSON on stdout, and the exit code is 0.

Triggers in triggered mode: with a `plc:` section (protocol modbus-rtu, modbus-tcp or ascii) the PLC
link submits into the pipeline's TriggerQueue and gets every verdict back on the same link. Without
one, SIGUSR1 fires one software trigger (`kill -USR1 <pid>`), and with `--stdin-triggers` each line
on stdin fires one (empty, `PART_ID` or `PART_ID SHOT`). Free-run needs no triggers; free-run on a
file or folder ends by itself at the end of the source.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edge.config import StationConfig, load_config
from edge.metrics import StationMetrics
from edge.ng_store import NgStore
from edge.pipeline.build import cavities_of, open_recipes, station_pipeline
from edge.pipeline.loop import Pipeline, RoiXywh
from edge.pipeline.runner import ModelRunner
from edge.replay import load_timeline
from edge.sinks.base import Sink
from edge.sinks.jsonl import JsonlSink
from edge.sinks.mqtt import MqttSink, build_mqtt_sink
from edge.sinks.ng_store import NgStoreSink
from edge.sinks.plc import PlcSink, TriggerForwarder, open_link
from edge.sources.base import FrameSource
from edge.sources.factory import open_source
from edge.triggers import SignalTriggers, SoftwareTrigger, StdinTriggers, TriggerQueue
from plc_bridge.link import PlcLink

log = logging.getLogger(__name__)

STATUS_EVERY_S = 60.0


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("run", help="run the station from station.yaml until SIGTERM")
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="station.yaml")
    parser.add_argument("--jsonl", metavar="FILE", help="append every verdict to FILE (one JSON per line)")
    parser.add_argument("--stdin-triggers", action="store_true",
                        help="triggered mode: each stdin line fires a trigger ('', PART_ID or PART_ID SHOT)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    sinks: list[Sink] = [JsonlSink(args.jsonl)] if args.jsonl else []
    return run_station(config, sinks, stdin_triggers=args.stdin_triggers)


def run_station(config: StationConfig, sinks: list[Sink], stdin_triggers: bool = False) -> int:
    # The station's figures are always counted, since the MQTT status carries them; the Prometheus
    # endpoint is served only with a `metrics:` section.
    metrics = StationMetrics(config.metrics.host, config.metrics.port) if config.metrics else StationMetrics()
    mqtt_sink = build_mqtt_sink(config, Path(config.model.path).stem, figures=metrics.figures.figures)
    sinks = [*sinks, *([mqtt_sink] if mqtt_sink is not None else []), metrics.sink]
    if config.storage is not None:
        sinks = [*sinks, NgStoreSink(NgStore(config.storage.ng_dir, config.storage.quota_mb))]
    stop_source = threading.Event()  # the reconnect wrapper of a live source stops waiting on it
    source_cfg = config.source
    source = open_source(source_cfg.kind, source_cfg.uri, reconnect_max_s=source_cfg.reconnect_max_s,
                         stop_event=stop_source,
                         on_state_change=_camera_alert(mqtt_sink) if mqtt_sink is not None else None)
    try:
        cavities = cavities_of(config.cavities, _recorded_rois(config, source))
        # Every model of every recipe is loaded, checked and warmed up here, before the first trigger.
        recipes = open_recipes(config, len(cavities), micro_batch=source_cfg.mode != "triggered")
        runner = recipes.default.runner
        assert isinstance(runner, ModelRunner)
        try:
            link, forwarder = None, TriggerForwarder()
            if config.plc is not None and config.plc.protocol != "none" and source_cfg.mode == "triggered":
                link = open_link(config.plc, forwarder, on_fault=mqtt_sink.plc_fault if mqtt_sink else None)
                sinks = [*sinks, PlcSink(link, {r.recipe_id: r.judge.class_names for r in recipes})]
            pipeline, triggers = station_pipeline(config, source, recipes, sinks, cavities, stop_source)
            forwarder.queue = triggers
            metrics.figures.watch(pipeline=pipeline, source=source, link=link,
                                  publisher=mqtt_sink.publisher if mqtt_sink else None,
                                  model_name=runner.card.name, provider=runner.provider)
            if config.metrics is not None:
                metrics.start()
            try:
                return _serve(config, pipeline, triggers, stdin_triggers, link)
            finally:
                metrics.close()
        finally:
            recipes.close()
    finally:
        source.close()


def _camera_alert(mqtt_sink: MqttSink) -> Callable[[str, str], None]:
    """A live source's state changes ("lost", "ok", "closed") as the MQTT camera-lost alert."""

    def on_state_change(state: str, detail: str) -> None:
        if state != "closed":
            mqtt_sink.camera_fault(state == "lost", detail)

    return on_state_change


def _serve(
    config: StationConfig, pipeline: Pipeline, triggers: TriggerQueue | None, stdin_triggers: bool,
    link: PlcLink | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or the end of a finite free-run source), then drain and report.
    With a PLC link the PLC owns the triggers: software triggers would answer it results it never
    asked for, so SIGUSR1 / stdin triggers are off."""
    shutdown = threading.Event()
    inputs: list[StdinTriggers | SignalTriggers] = []
    if triggers is not None and link is None:
        software = SoftwareTrigger(triggers)
        inputs.append(SignalTriggers(software))
        if stdin_triggers:
            inputs.append(StdinTriggers(software))
    previous = {sig: signal.signal(sig, lambda *_: shutdown.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        pipeline.start()
        if link is not None:
            link.start()
        for trigger_input in inputs:
            trigger_input.start()
        log.info("station %s running: %s source, %s mode, %d cavities", config.station.name,
                 config.source.kind, config.source.mode, len(pipeline.cavities))
        next_status_s = time.monotonic() + STATUS_EVERY_S
        # Wake twice a second: a signal or the end of a finite source ends the wait.
        while not shutdown.wait(0.5) and not pipeline.done.is_set():
            if time.monotonic() >= next_status_s:
                next_status_s += STATUS_EVERY_S
                log.info("status %s", json.dumps(_short(pipeline.snapshot())))
        log.info("stopping: draining queued triggers and flushing sinks")
    finally:
        for trigger_input in inputs:
            trigger_input.close()
        clean = pipeline.close()  # drains: the last verdicts are posted to the link before it closes
        if link is not None:
            link.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    snapshot = pipeline.snapshot()
    if link is not None:
        snapshot["plc"] = link.status()
    print(json.dumps(snapshot), flush=True)
    return 0 if clean else 1


def _recorded_rois(config: StationConfig, source: FrameSource) -> Sequence[RoiXywh] | None:
    """Cavity ROIs a recording knows when station.yaml lists none: a footage file's timeline, or the
    simulator's nest layout."""
    if config.source.kind == "file":
        timeline = load_timeline(config.source.uri, config.source.timeline)
        return timeline.rois_xywh if timeline else None
    plan = getattr(source, "plan", None)  # edge.sources.simulator.SimSource
    return plan.layout.rois_xywh if plan is not None else None


def _short(snapshot: dict) -> dict:
    keys = ("frames_in", "frames_judged", "frames_dropped", "triggers", "triggers_rejected", "verdicts",
            "deadline_misses")
    return {k: snapshot[k] for k in keys}
