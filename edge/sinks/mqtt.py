"""MQTT sink: each verdict becomes a `result` message, the alert rules turn them into `alert` messages,
and a retained `status` summarises the station; all through plc_bridge's durable outbox.

`write` runs on the sink's own thread (see edge/sinks/base.py) and only writes SQLite: it never waits
for the broker, so a broker that is down or refuses our password does not slow inspection; the outbox
holds the results until the broker takes them. Link faults (PLC heartbeat lost, camera gone) arrive
from other threads through `plc_fault` / `camera_fault` and are serialised with `write` by a lock,
because the alert engine has one owner at a time.

Wiring (edge/commands/run_cmd.py): `sink = build_mqtt_sink(config, runner.card.name)`; if not None,
append it to the sinks and pass `on_fault=sink.plc_fault` to `open_link`.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from edge.alerts.model_change import model_changed
from edge.alerts.rules import Alert, AlertEngine, AlertRules, Lifecycle
from edge.config import StationConfig
from edge.disk_reserve import OUTBOX, DiskReserve
from edge.errors import ConfigError
from edge.verdict import Verdict
from plc_bridge.mqtt.outbox import Outbox
from plc_bridge.mqtt.publisher import MqttPublisher, MqttSettings, iso_utc

RESULT_SCHEMA = "moldpilot.result/1"
STATUS_SCHEMA = "moldpilot.status/1"


class MqttSink:
    wants_evidence = False

    def __init__(self, publisher: MqttPublisher, alerts: AlertEngine | None, line: str, station: str,
                 model: str | None = None, status_interval_s: float = 10.0, drain_timeout_s: float = 5.0,
                 name: str = "mqtt", figures: Callable[[], dict[str, Any]] | None = None,
                 disk: DiskReserve | None = None, model_version: str | None = None) -> None:
        """`model_version`: the registry version judging (edge/registry), carried in `status` and
        moved by `model_changed`. `figures`: the station's figures (edge/metrics/figures.py), carried
        in `status` as they are, so the status and the metrics endpoint show the same numbers.
        `disk`: the station's disk reserve, whose state becomes the DISK_LOW alert and the status's
        `disk`."""
        self.disk = disk
        self.name = name
        self.figures = figures
        self.publisher = publisher
        self.alerts = alerts
        self.line, self.station, self.model = line, station, model
        self.model_version = model_version
        self.status_interval_s = status_interval_s
        self.drain_timeout_s = drain_timeout_s
        self._lock = threading.Lock()  # alert engine + counters: write() vs plc_fault() from a PLC thread
        self._decisions: Counter[str] = Counter()
        self._ng_by_cavity: Counter[int] = Counter()
        self._started_s = time.monotonic()
        self._next_status_s = 0.0
        self._dropped_seen = 0

    def open(self) -> None:
        self.publisher.start()
        self._publish_status()

    def write(self, verdicts: Sequence[Verdict]) -> None:
        now_s = time.time()
        results = [self._result_doc(v, now_s) for v in verdicts]
        with self._lock:
            for v in verdicts:
                self._decisions[v.decision.name] += 1
                self._ng_by_cavity[v.cavity] += v.decision.name == "NG"
            raised = [a for v in verdicts for a in self.alerts.observe(v)] if self.alerts else []
        self.publisher.enqueue("result", results)  # results first: an alert never overtakes its parts
        self._send(raised)
        if self.publisher.outbox.dropped != self._dropped_seen:
            self._outbox_alerts()
        else:
            self._send(self._disk_alerts())  # every part: a filling disk is alerted while writes work
        self.tick()

    def tick(self) -> None:
        """Also called by the sink's worker while no parts come: the status stays fresh, a running
        OUTBOX_OVERFLOW / DISK_LOW updates and ends even when the line stands still."""
        if time.monotonic() >= self._next_status_s:
            self._outbox_alerts()
            self._publish_status()

    def plc_fault(self, active: bool, reason: str) -> None:
        """plc_bridge.link.FaultCallback: the PLC link lost (True) or back (False)."""
        self._link_fault("plc", active, reason)

    def camera_fault(self, active: bool, reason: str) -> None:
        """Same shape, for a source that reports losing its camera (NO_FRAME parts also raise it)."""
        self._link_fault("camera", active, reason)

    def health(self, phase: Lifecycle, code: str, messages: Mapping[str, str]) -> None:
        """A health watch condition (edge/health) raised, changed or cleared: one alert each, in the
        station's alert language (`messages` by language code), keyed by the condition."""
        language = self.alerts.language if self.alerts is not None else "en"
        self._send([Alert(phase, code, f"HEALTH/{code}", "critical", messages[language])])

    def model_changed(self, action: str, version: str, who: str) -> None:
        """A promote or rollback on the running station (any thread): the alert says which version
        judges now and who moved it, and the retained status says so at once."""
        language = self.alerts.language if self.alerts is not None else "en"
        self.model_version = version
        self._send([model_changed(action, version, who, language)])
        self._publish_status()

    def _link_fault(self, link: Literal["plc", "camera"], active: bool, reason: str) -> None:
        if self.alerts is not None:
            with self._lock:
                raised = self.alerts.link(link, up=not active, detail=reason)
            self._send(raised)

    def close(self) -> None:
        self.publisher.wait_drained(self.drain_timeout_s)  # so the last status tells the final backlog
        self._publish_status()
        self.publisher.stop(self.drain_timeout_s)

    def _result_doc(self, v: Verdict, now_s: float) -> dict[str, Any]:
        return {"schema": RESULT_SCHEMA, "id": uuid.uuid4().hex, "line": self.line, "station": self.station,
                "ts": iso_utc(now_s), **v.to_dict()}

    def _send(self, alerts: list[Alert]) -> None:
        if alerts:  # kept: a full outbox drops results before alerts, which say what was lost
            self.publisher.enqueue("alert", [a.to_doc(self.line, self.station) for a in alerts], keep=True)

    def _outbox_alerts(self) -> None:
        stats = self.publisher.stats()
        self._dropped_seen = stats.dropped
        if self.alerts is not None:
            with self._lock:
                raised = self.alerts.outbox(stats.dropped, stats.backlog)
            self._send(raised + self._disk_alerts())

    def _disk_alerts(self) -> list[Alert]:
        disk = self._disk_doc(self.publisher.outbox.lost)
        if self.alerts is None or disk is None:
            return []
        with self._lock:
            return self.alerts.disk(disk["free_mb"], disk["low"], disk["lost"])

    def _disk_doc(self, outbox_lost: int) -> dict[str, Any] | None:
        if self.disk is None:
            return None
        state = self.disk.state()
        return {"free_mb": state.free_mb, "low": state.low, "short": state.short,
                "lost": {**state.lost, OUTBOX: outbox_lost}}

    def _publish_status(self) -> None:
        stats = self.publisher.stats()
        with self._lock:
            decisions = dict(self._decisions)
            ng_by_cavity = {str(c): n for c, n in sorted(self._ng_by_cavity.items())}
            suppressed = self.alerts.suppressed if self.alerts else 0
        parts = sum(decisions.values())
        self.publisher.publish_status({
            "schema": STATUS_SCHEMA, "id": uuid.uuid4().hex, "ts": iso_utc(time.time()), "line": self.line,
            "station": self.station, "model": self.model,
            "model_version": self.model_version,
            "uptime_s": round(time.monotonic() - self._started_s, 1),
            "parts": parts, "decisions": decisions, "ng_by_cavity": ng_by_cavity,
            "ng_rate": round(decisions.get("NG", 0) / parts, 4) if parts else None,
            "outbox": {"backlog": stats.backlog, "delivered": stats.delivered, "rejected": stats.rejected,
                       "dropped": stats.dropped, "lost": stats.lost},
            "disk": self._disk_doc(stats.lost),
            "alerts_suppressed": suppressed, "last_error": stats.last_error,
            **({"figures": self.figures()} if self.figures is not None else {}),
        })
        self._next_status_s = time.monotonic() + self.status_interval_s


def _secret(env_name: str | None, key: str) -> str | None:
    """The value of the env variable named in config; a named but unset variable is a setup error."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise ConfigError(f"mqtt.{key} names the environment variable {env_name}, but it is not set")
    return value


def build_mqtt_sink(config: StationConfig, model: str | None = None,
                    figures: Callable[[], dict[str, Any]] | None = None,
                    disk: DiskReserve | None = None, model_version: str | None = None) -> MqttSink | None:
    """The station's MQTT sink, or None when station.yaml has no `mqtt:` section. With `disk` (the
    station's reserve) the outbox asks the NG store and old JSONL to give way before it writes."""
    m = config.mqtt
    if m is None:
        return None
    st = config.station
    settings = MqttSettings(
        host=m.host, port=m.port, topic_root=config.topic_root,
        client_id=m.client_id or f"moldpilot-{st.site}-{st.line}-{st.name}",
        username=_secret(m.username_env, "username_env"), password=_secret(m.password_env, "password_env"),
        tls_ca=m.tls.ca if m.tls else None, tls_cert=m.tls.cert if m.tls else None,
        tls_key=m.tls.key if m.tls else None, protocol=m.protocol, keepalive_s=m.keepalive_s,
        max_inflight=m.max_inflight, result_expiry_s=m.result_expiry_s,
    )
    outbox = Outbox(m.outbox, max_messages=m.outbox_max_messages, max_age_s=m.outbox_max_age_s,
                    make_room=disk.make_room if disk is not None else None)
    a = config.alerts
    engine = None
    if a is not None:
        rate = a.cavity_ng_rate
        rules = AlertRules(
            ng_streak=a.ng_streak, rate_window=rate.window if rate else None,
            rate_threshold=rate.threshold if rate else 1.0,
            baseline_factor=rate.baseline_factor if rate else None, clear_after_parts=a.clear_after_parts,
            update_interval_s=a.update_interval_s, max_new_per_hour=a.max_new_per_hour,
        )
        engine = AlertEngine(rules, a.language)
    return MqttSink(MqttPublisher(settings, outbox), engine, st.line, st.name, model, m.status_interval_s,
                    figures=figures, disk=disk, model_version=model_version)
