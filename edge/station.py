"""One running station, built from station.yaml in the order the data flows.

    alerts (MQTT sink) -> trigger queue -> PLC link (handed the queue) -> source -> models -> sinks
    -> pipeline (handed the source, the queue, the models and the sinks) -> console (a `console:`
    section; handed the station's view, its ROI hook and the verdict history sink)

Every collaborator is built here and handed to the next in its constructor; nothing is attached
afterwards. The two callbacks that point back at the station itself (a trigger the queue cannot take is
answered by the pipeline; the MQTT status carries the station's figures) are bound methods of this
object, only called once `start()` has run. The console's hooks are bound methods too: `view()` and
`apply_rois()` (new cavity ROIs between batches, edge/pipeline/loop.py `swap_cavities`), and
`shadows` starts and stops a candidate model judging beside the active one (edge/pipeline/
shadow_switch.py).

`run`, `replay` and `demo` (which runs `moldpilot run`) use it; `record` shares its trigger inputs and
PLC link (`open_trigger_link`). `start()`, `stop()` (drain: no new triggers, every accepted one still
answered), `close()` (join everything, sinks flushed). `snapshot()` is what a person watching the line
wants to see, read from counters and copies, never from a lock the inference threads hold.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edge.config import CavitySection, StationConfig
from edge.console.history import VerdictHistory
from edge.console.hooks import StationHooks, StationView
from edge.disk_reserve import disk_reserve
from edge.errors import ConfigError
from edge.health.conditions import Condition
from edge.health.feed import HealthFeed
from edge.health.monitor import HealthEvent
from edge.health.reference import Reference
from edge.health.thresholds import HealthThresholds
from edge.health.watch import HealthWatch
from edge.metrics.figures import station_figures
from edge.metrics.sink import MetricsSink
from edge.metrics.station import station_endpoint
from edge.metrics.tally import Tally
from edge.pipeline.build import (
    ReplayPlan,
    cavities_of,
    open_recipes,
    recorded_rois,
    replay_lanes,
    replay_pipeline,
    station_pipeline,
)
from edge.pipeline.gate import FailSafeGate
from edge.pipeline.loop import RoiXywh
from edge.pipeline.model_switch import ModelSwitch
from edge.pipeline.recipes import RecipeBook
from edge.pipeline.runner import ModelRunner
from edge.pipeline.shadow import LabelOf
from edge.pipeline.shadow_switch import ShadowSwitch
from edge.registry import ModelVersion
from edge.registry.station_model import open_registry, starting_version, with_model
from edge.sinks.base import Sink
from edge.sinks.jsonl import JsonlSink
from edge.sinks.mqtt import build_mqtt_sink
from edge.sinks.ng_store import build_ng_store_sink
from edge.sinks.plc import PlcSink, open_trigger_link
from edge.sources.factory import open_source
from edge.teach.review import build_review
from edge.triggers import Trigger, TriggerQueue
from plc_bridge.link import LinkError
from sim.timeline import load_timeline

if TYPE_CHECKING:
    from edge.console.server import Console
    from edge.teach.desk import TeachDesk

log = logging.getLogger(__name__)

TRIGGER_QUEUE_SIZE = 64  # triggers waiting for vision before new ones are answered TRIGGER_OVERRUN
VIEW_COUNTERS_MAX_AGE_S = 0.5  # the console's panel refreshes once a second; its live view does not show them
JSONL_ROTATE_MB = 64.0  # `run --jsonl`: a full file is rotated, so old lines can give way to a full disk


class Station:
    def __init__(self, config: StationConfig, sinks: Sequence[Sink] = (), *,
                 replay: ReplayPlan | None = None, metrics_port: int | None = None,
                 jsonl: Path | None = None, label_of: LabelOf | None = None) -> None:
        """`sinks`: more places for every verdict (a replay's memory, its report's JSONL); `replay`:
        judge a recording as edge/replay.py plans it (no PLC link, no recipes); `metrics_port`: serve
        the Prometheus endpoint on 127.0.0.1 there even without a `metrics:` section; `jsonl`: append
        every verdict to this file (rotated at JSONL_ROTATE_MB), under the station's disk reserve. A
        `console:` section serves the console (edge/console) from `start()` to `close()`; the ROI
        editor writes to the file the config was loaded from (`config.source_path`), if any.
        `label_of(part_id, cavity)`: the operator's label of a part (a class name) or None, for the
        shadow candidate's agreement with the labels."""
        self.config = config
        # One free-space reserve for the NG store, the JSONL and the MQTT outbox (edge/disk_reserve.py).
        self.disk = disk_reserve(config)
        self._jsonl = jsonl
        self._label_of = label_of
        self.history = VerdictHistory() if config.console is not None else None
        self.stop_event = threading.Event()  # a live source's reconnect wrapper stops waiting on it
        self.tally = Tally()
        self.gate = FailSafeGate()
        self.health = self._health_watch()  # first: a missing reference stops the start before anything opens
        self.metrics = station_endpoint(config, metrics_port, self.figures)
        model_name = Path(config.model.path).stem
        # A `registry:` section: recipe 0 is judged by the registry's active version (edge/registry).
        self.registry = open_registry(config)
        started = starting_version(self.registry, config) if self.registry is not None else None
        if started is not None:
            self.config = config = with_model(config, started.path)
        version = started.version if started is not None else None
        self.mqtt = build_mqtt_sink(config, model_name, figures=self.figures, disk=self.disk,
                                    model_version=version)
        triggered = replay is None and config.source.mode == "triggered"
        self.triggers = (TriggerQueue(TRIGGER_QUEUE_SIZE, on_reject=self._answer_rejected) if triggered
                         else None)
        self.link = open_trigger_link(config, self.triggers, self.mqtt.plc_fault if self.mqtt else None)
        self.timeline = (load_timeline(config.source.uri, config.source.timeline)
                         if replay is None and config.source.kind == "file" else None)
        self.source = open_source(config.source.kind, config.source.uri,
                                  reconnect_max_s=config.source.reconnect_max_s, stop_event=self.stop_event,
                                  on_state_change=self._camera_state if self.mqtt else None)
        try:
            recorded = replay.rois_xywh if replay else recorded_rois(self.source, self.timeline)
            self.cavities = cavities_of(config.cavities, recorded)
            # Every model of every recipe is loaded, checked and warmed up here, before the first trigger.
            self._recipe_options = {"n_cavities": len(self.cavities), "micro_batch": not triggered,
                                    "deadline": replay is None or replay.realtime,
                                    "with_recipes": replay is None}
            self.recipes = open_recipes(config, **self._recipe_options, version=version)
        except BaseException:
            self.source.close()
            raise
        try:
            card = self.recipes.default.runner.card  # labels are filed under the model section card's classes
            self.review = (build_review(config.review, card.class_names, card.ok_class, card.name)
                           if config.review is not None else None)
            if self._label_of is None and self.review is not None:  # the shadow's agreement with them
                self._label_of = self.review.labels.label_of
        except BaseException:
            self.recipes.close()
            self.source.close()
            raise
        all_sinks = [*sinks, *self._own_sinks()]
        if replay is not None:
            pace_fps = (replay.fps or self.source.fps) if replay.realtime else None
            self.pipeline = replay_pipeline(self.source, self.recipes, all_sinks, self.cavities,
                                            select=replay.select, leftover=replay.leftover,
                                            pace_fps=pace_fps, lanes=replay_lanes(config), gate=self.gate)
        else:
            self.pipeline = station_pipeline(config, self.source, self.recipes, all_sinks, self.cavities,
                                             self.triggers, self.stop_event, self.timeline, self.gate)
        self.models = (ModelSwitch(self.pipeline, self.registry, self._open_version, self._model_changed,
                                   fixed_classes=self.link is not None)
                       if self.registry is not None else None)
        self.shadows = ShadowSwitch(self.pipeline, config.shadow, self._label_of, self._registry_candidate)
        try:
            self.console = self._console()
        except BaseException:
            self.recipes.close()
            self.source.close()
            raise

    def _own_sinks(self) -> list[Sink]:
        sinks: list[Sink] = [MetricsSink(self.tally)]
        if self.history is not None:
            sinks.append(self.history)
        if self._jsonl is not None:
            sinks.append(JsonlSink(self._jsonl, reserve=self.disk, rotate_mb=JSONL_ROTATE_MB))
        if self.mqtt is not None:
            sinks.append(self.mqtt)
        if self.config.storage is not None:
            sinks.append(build_ng_store_sink(self.config.storage, self.disk))
        if self.link is not None:
            sinks.append(PlcSink(self.link, {r.recipe_id: r.judge.class_names for r in self.recipes}))
        if self.review is not None:
            sinks.append(self.review.sink)
        if self.health is not None:
            assert self.config.health is not None
            sinks.append(HealthFeed(self.health, lambda: self.pipeline.latest_frame,
                                    self.config.health.sample_s))
        return sinks

    def _health_watch(self) -> HealthWatch | None:
        """The health watch of a `health:` section, over the reference taken at commissioning."""
        if self.config.health is None:
            return None
        reference = Reference.load(Path(self.config.health.reference))
        # A lost camera is its source's to report (the reconnect wrapper): a line that stops offers no
        # frames, which is not a lost camera.
        return HealthWatch(reference, self._health_event, HealthThresholds(camera_lost_after_s=None))

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.metrics is not None:
            self.metrics.start()
        if self.config.shadow is not None and self.config.shadow.model:
            self.shadows.start(self.config.shadow.model)
        self.pipeline.start()
        if self.link is not None:
            try:
                self.link.start()
            except LinkError as exc:
                raise ConfigError(str(exc)) from None
        if self.console is not None:
            self.console.start()

    def stop(self) -> None:
        """Drain: no new triggers or frames; everything already accepted still gets its verdict."""
        self.stop_event.set()
        self.pipeline.stop()

    def close(self, timeout_s: float = 30.0) -> bool:
        """Stop, join the pipeline (its last verdicts reach the link first), then the link, the models,
        the source and the endpoint; True if every thread finished in time."""
        self.stop()
        clean = self.pipeline.close(timeout_s)
        clean = self.shadows.close(timeout_s) and clean
        if self.link is not None:
            self.link.close()
        self.pipeline.recipes.close()  # the ones judging last (a promote closed the ones before)
        self.source.close()
        if self.metrics is not None:
            self.metrics.close()
        if self.console is not None:  # last: the final state stays visible until the very end
            self.console.close()
        return clean

    # -- what a person sees ---------------------------------------------------------------------------

    @property
    def runner(self) -> ModelRunner:
        """The model of the model section (recipe 0)."""
        runner = self.pipeline.recipes.default.runner
        assert isinstance(runner, ModelRunner)
        return runner

    def view(self) -> StationView:
        """What a person watching the line sees, as of now: read from counters, the link's and the
        publisher's own status calls and references the pipeline hands over, never under a lock the
        inference threads hold (edge/pipeline/loop.py `latest_frame`)."""
        runner, stats = self.runner, getattr(self.source, "stats", None)
        card = runner.card
        return StationView(
            t_s=time.monotonic(),
            latest_frame=self.pipeline.latest_frame,
            latest_verdicts=dict(self.pipeline.latest_verdicts),
            counters=self.pipeline.shared_snapshot(VIEW_COUNTERS_MAX_AGE_S),
            plc=self.link.status() if self.link is not None else None,
            camera=asdict(stats()) if callable(stats) else None,
            mqtt=asdict(self.mqtt.publisher.stats()) if self.mqtt is not None else None,
            model={"name": card.name, "created": card.created, "sha256": card.sha256[:12],
                   "provider": runner.provider, **self._version_label()},
            cavities={c.id: c.roi_xywh for c in self.pipeline.cavities},
            health=self._health_view(),
            shadow=self.shadows.view(),
        )

    def _health_view(self) -> dict[str, Any] | None:
        if self.health is None:
            return None
        state = self.health.state()
        return {"bits": state.health_bits, "raised": sorted(c.name for c in state.raised),
                "fail_safe": self.gate.reason,
                "checks": {c.name: {"measure": r.measure, "figure": round(r.figure, 4), "bound": r.bound}
                           for c, r in state.results.items()}}

    def snapshot(self) -> dict[str, Any]:
        """Counters and the pipeline's figures, plus the PLC link's state when there is one."""
        snap = self.pipeline.snapshot()
        if self.link is not None:
            snap["plc"] = self.link.status()
        if (shadow := self.shadows.view()) is not None:
            snap["shadow"] = shadow
        return snap

    def figures(self) -> dict[str, Any]:
        """What the metrics endpoint exposes and the MQTT status carries (edge/metrics/figures.py)."""
        runner = self.runner
        return station_figures(self.tally, self.pipeline.snapshot(), self.source, self.link,
                               self.mqtt.publisher if self.mqtt else None,
                               {"name": runner.card.name, "provider": runner.provider,
                                **self._version_label()}, self.shadows.view())

    def _registry_candidate(self) -> tuple[Path, str] | None:
        candidate = self.registry.candidate() if self.registry is not None else None
        return (candidate.path, candidate.version) if candidate is not None else None

    # -- model versions (edge/registry, edge/pipeline/model_switch.py) --------------------------------

    @property
    def model_version(self) -> str | None:
        """The registry version judging recipe 0 now; None without a `registry:` section."""
        return self.pipeline.recipes.default.version

    def _version_label(self) -> dict[str, str]:
        """{"version": "v3"} for the view and the metrics (a label only where a registry names one)."""
        version = self.model_version
        return {"version": version} if version is not None else {}

    def promote(self, version: str, who: str) -> ModelVersion:
        """Judge with `version` from the next batch on (loaded and warmed up first, on this thread)."""
        return self._switch().promote(version, who)

    def rollback(self, who: str) -> ModelVersion:
        """Back to the version judging before the current one, from the next batch on."""
        return self._switch().rollback(who)

    def _switch(self) -> ModelSwitch:
        if self.models is None:
            raise ConfigError("this station has no registry: section; add 'registry: {path: var/registry}' "
                              "to station.yaml to promote and roll back models")
        return self.models

    def _open_version(self, entry: ModelVersion) -> RecipeBook:
        config = with_model(self.config, entry.path)
        return open_recipes(config, **self._recipe_options, version=entry.version)

    def _model_changed(self, action: str, version: str, who: str) -> None:
        if self.mqtt is not None:
            self.mqtt.model_changed(action, version, who)

    # -- the console ----------------------------------------------------------------------------------

    def apply_rois(self, sections: Sequence[CavitySection]) -> None:
        """New cavity ROIs (already validated by the config model), without a restart: the pipeline
        judges every batch taken from now on with them, the ones in flight finish with the old ones."""
        cavities = cavities_of(sections)
        self.pipeline.swap_cavities(cavities)
        self.cavities = cavities
        self.config = self.config.model_copy(update={"cavities": list(sections)})
        log.info("cavity ROIs applied: %s", [(c.id, c.roi_xywh) for c in cavities])

    def model_crop(self, image: np.ndarray, roi_xywh: RoiXywh) -> np.ndarray:
        """A cavity crop as recipe 0's model sees it: resized to its input, in its colour (BGR or gray,
        for display), on a copy; the frame is not touched."""
        spec = self.runner.card.input
        x, y, w, h = roi_xywh
        interpolation = cv2.INTER_AREA if spec.resize.interpolation == "area" else cv2.INTER_LINEAR
        crop = cv2.resize(image[y:y + h, x:x + w], (spec.resize.width, spec.resize.height),
                          interpolation=interpolation)
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if spec.colour == "gray" else crop

    def _console(self) -> Console | None:
        if self.config.console is None or self.history is None:
            return None
        # Imported here, as the teach desk below: the web stack and scipy cost a station without a
        # console (a replay, most lines) start-up time and memory it would never use (issue 22).
        from edge.console.server import Console
        hooks = StationHooks(view=self.view, apply_rois=self.apply_rois, model_crop=self.model_crop,
                             config=lambda: self.config, history=self.history,
                             config_path=self.config.source_path, shadow_view=self.shadows.view,
                             start_shadow=self.shadows.start_candidate, stop_shadow=self.shadows.stop,
                             review=self.review, teach=self._teach_desk(), registry=self.registry,
                             promote=self.promote if self.models else None,
                             rollback=self.rollback if self.models else None)
        return Console(self.config.console, hooks)

    def _teach_desk(self) -> TeachDesk | None:
        """The teach page's desk: training on the review dataset into this registry's candidate."""
        teach, review = self.config.teach, self.config.review
        if teach is None or review is None or self.registry is None:
            return None
        from edge.teach.desk import registry_desk

        return registry_desk(self.registry, Path(review.dataset), Path(teach.work_dir),
                             Path(teach.holdout) if teach.holdout else None, [Path(f) for f in teach.footage])

    # -- callbacks into the station -------------------------------------------------------------------

    def _answer_rejected(self, trigger: Trigger) -> None:
        """A trigger the queue could not take: answered NO_DECISION at once (TRIGGER_OVERRUN)."""
        self.pipeline.reject(trigger)

    def _health_event(self, event: HealthEvent) -> None:
        """A health condition raised, changed or cleared (on the watch's thread): HR 114 and STATUS
        ERROR on the PLC link, an MQTT alert, and the fail-safe gate for the conditions station.yaml
        names in `health.fail_safe`."""
        bits = event.health_bits
        log.warning("health %s %s: %s", event.condition.name, event.phase, event.message("en"))
        if self.link is not None:
            self.link.set_health(bits)
        if self.mqtt is not None:
            self.mqtt.health(event.phase, event.condition.name,
                             {"en": event.message("en"), "ko": event.message("ko")})
        assert self.config.health is not None
        fail_safe = self.config.health.fail_safe
        failing = [c.name for c in Condition if c.bit & bits and c.name.lower() in fail_safe]
        if failing:
            self.gate.close(", ".join(failing))
        else:
            self.gate.open()

    def _camera_state(self, state: str, detail: str) -> None:
        """A live source's state changes ("lost", "ok", "closed") as the MQTT camera-lost alert."""
        if state != "closed" and self.mqtt is not None:
            self.mqtt.camera_fault(state == "lost", detail)
