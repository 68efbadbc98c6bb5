"""One station's Prometheus endpoint: a registry of its own over the station's figures, served on HTTP.

A `CollectorRegistry` per station, never prometheus_client's global default registry: two stations (or
two tests) in one process must not share series. The endpoint is prometheus_client's WSGI server on a
daemon thread; `close()` shuts it down and joins it.

Wiring (edge/station.py): `StationMetrics(host, port, station.figures)`; `start()` before the pipeline
starts, `close()` after it closed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from edge.config import StationConfig
from edge.errors import ConfigError
from edge.metrics.exposition import FiguresCollector

log = logging.getLogger(__name__)


class StationMetrics:
    def __init__(self, host: str, port: int, figures: Callable[[], dict[str, Any]]) -> None:
        """`port` 0 picks a free port (see `port` after `start()`)."""
        self.host, self._port = host, port
        self.registry = CollectorRegistry()
        self.registry.register(FiguresCollector(figures))
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port if self._server is not None else self._port

    def start(self) -> None:
        try:
            self._server, self._thread = start_http_server(self._port, self.host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"metrics endpoint cannot listen on {self.host}:{self._port} ({exc.strerror}); "
                              "pick a free metrics.port or stop what uses it") from None
        self._thread.name = "metrics-http"
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def close(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
        self._server = self._thread = None


def station_endpoint(config: StationConfig, port: int | None,
              figures: Callable[[], dict[str, Any]]) -> StationMetrics | None:
    """The Prometheus endpoint of a `metrics:` section, or on 127.0.0.1:`port` when one is given."""
    if port is not None:
        return StationMetrics("127.0.0.1", port, figures)
    if config.metrics is not None:
        return StationMetrics(config.metrics.host, config.metrics.port, figures)
    return None
