"""The station's figures as one dict: what the metrics endpoint exposes and the MQTT status carries.

One function of the live state (edge/station.py `Station.figures` calls it), so the Prometheus scrape
and the retained `status` message can never disagree. Figures of what the station does not have (no PLC
link, no broker) are None, and the collector leaves those series out rather than invent a value
(Prometheus' convention for "not known").
"""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

from edge.metrics.tally import Tally

# What of the shadow candidate's view the status and the scrape carry (not its disagreement list).
SHADOW_KEYS = ("name", "version", "parts_judged", "dropped", "errors", "window_parts", "agreement_active",
               "agreement_labels")


class _Link(Protocol):
    def status(self) -> dict[str, object]: ...


class _Publisher(Protocol):
    def stats(self) -> Any: ...


def station_figures(tally: Tally, snap: dict[str, Any], source: Any, link: _Link | None,
                    publisher: _Publisher | None, model: dict[str, str],
                    shadow: dict[str, Any] | None = None) -> dict[str, Any]:
    """The station's figures from its parts: the verdict tally, the pipeline's snapshot `snap`, the
    source, the PLC link and the MQTT publisher (None where the station has none), the model, and the
    shadow candidate's view (edge/pipeline/shadow.py; None while shadow mode is off)."""
    backlog = _publisher_stats(publisher) if publisher is not None else None
    return {
        **tally.snapshot(),
        "frames": {"in": snap["frames_in"], "judged": snap["frames_judged"],
                   "dropped": snap["frames_dropped"]},
        "deadline_misses": snap["deadline_misses"],
        "sinks": {name: {"dropped": s["dropped"], "errors": s["errors"], "skipped": s["skipped"]}
                  for name, s in snap["sinks"].items()},
        "camera_up": camera_up(source, snap),
        "plc_link_up": link_up(link.status()) if link is not None else None,
        "mqtt": {"connected": backlog.connected, "backlog": backlog.backlog} if backlog is not None else None,
        "model": model,
        "shadow": {k: shadow[k] for k in SHADOW_KEYS} if shadow is not None else None,
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
