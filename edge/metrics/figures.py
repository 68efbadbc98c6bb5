"""The station's figures as one dict: what the metrics endpoint exposes and the MQTT status carries.

One function of the live state, so the Prometheus scrape and the retained `status` message can never
disagree. The collaborators are attached with `watch()` as the station builds them (the pipeline exists
only after its sinks, the metrics sink among them); figures of what is not attached are None, and the
collector leaves those series out rather than invent a value (Prometheus' convention for "not known").
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Protocol

from edge.metrics.tally import Tally


class _Pipeline(Protocol):
    def snapshot(self) -> dict[str, Any]: ...


class _Link(Protocol):
    def status(self) -> dict[str, object]: ...


class _Publisher(Protocol):
    def stats(self) -> Any: ...


class StationFigures:
    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self._lock = threading.Lock()
        self._pipeline: _Pipeline | None = None
        self._source: Any = None
        self._link: _Link | None = None
        self._publisher: _Publisher | None = None
        self._model: dict[str, str] | None = None

    def watch(self, *, pipeline: _Pipeline | None = None, source: Any = None, link: _Link | None = None,
              publisher: _Publisher | None = None, model_name: str | None = None,
              provider: str | None = None) -> None:
        """Attach collaborators (only those given); safe while a scrape is running."""
        with self._lock:
            self._pipeline = pipeline or self._pipeline
            self._source = source or self._source
            self._link = link or self._link
            self._publisher = publisher or self._publisher
            if model_name is not None:
                self._model = {"name": model_name, "provider": provider or "unknown"}

    def figures(self) -> dict[str, Any]:
        with self._lock:
            pipeline, source, link, publisher = self._pipeline, self._source, self._link, self._publisher
            model = self._model
        snap = pipeline.snapshot() if pipeline is not None else None
        backlog = _publisher_stats(publisher) if publisher is not None else None
        return {
            **self.tally.snapshot(),
            "frames": ({"in": snap["frames_in"], "judged": snap["frames_judged"],
                        "dropped": snap["frames_dropped"]} if snap else None),
            "deadline_misses": snap["deadline_misses"] if snap else None,
            "sinks": ({name: {"dropped": s["dropped"], "errors": s["errors"], "skipped": s["skipped"]}
                       for name, s in snap["sinks"].items()} if snap else None),
            "camera_up": camera_up(source, snap),
            "plc_link_up": link_up(link.status()) if link is not None else None,
            "mqtt": ({"connected": backlog.connected, "backlog": backlog.backlog}
                     if backlog is not None else None),
            "model": model,
        }


def _publisher_stats(publisher: _Publisher) -> Any:
    """The MQTT publisher's stats, or None once the MQTT sink has closed its outbox: the pipeline closes
    its sinks while the endpoint still serves (it stops last), and a scrape then must not fail."""
    try:
        return publisher.stats()
    except sqlite3.ProgrammingError:  # "Cannot operate on a closed database"
        return None


def camera_up(source: Any, snapshot: dict[str, Any] | None) -> bool | None:
    """A live source (wrapped in edge/sources/reconnect.py) is up while its state is "ok"; a file or
    folder is up until the reader reports a source error."""
    stats = getattr(source, "stats", None)
    if callable(stats):
        return bool(stats().state == "ok")
    if snapshot is None:
        return None
    return snapshot["source_error"] is None


def link_up(status: dict[str, object]) -> bool:
    """From a PlcLink's status(): the serial port (or TCP listener) is served and the PLC is heard
    (Modbus: no heartbeat fault; ASCII: the peer is not lost)."""
    heard = not status.get("fault") and not status.get("peer_lost")
    return bool(status.get("port_connected", True)) and heard
