"""The console's web server: uvicorn in one named thread of the station process.

The socket is bound in the constructor, so a busy port or a bad address fails while the station is
being built (one clear line), not later in a thread nobody watches. TLS comes from `console.tls`.

HTTP is parsed by httptools (C) rather than uvicorn's pure-Python h11: the console's CPU is taken from
the station's cores. With three clients at 10 requests/s on the live state, httptools took the
console's CPU per request down by about a sixth; the rest is routing, the session and the JPEG.
Named rather than left to uvicorn's "auto", so a missing httptools fails at start, not silently slower.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import uvicorn

from edge.config import ConsoleSection
from edge.console.app import build_app
from edge.console.hooks import StationHooks
from edge.errors import ConfigError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0


class Console:
    def __init__(self, settings: ConsoleSection, hooks: StationHooks) -> None:
        self.settings = settings
        self.app = build_app(settings, hooks)
        self._socket = _bind(settings.host, settings.port)
        self.port: int = self._socket.getsockname()[1]
        tls = settings.tls
        config = uvicorn.Config(self.app, http="httptools", log_level="warning", access_log=False,
                                lifespan="off", ssl_certfile=tls.cert if tls else None,
                                ssl_keyfile=tls.key if tls else None, timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="console", daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else socket.gethostname()
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}/"

    def start(self) -> None:
        self._thread.start()
        deadline_s = time.monotonic() + START_TIMEOUT_S  # uvicorn sets `started` once it listens
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline_s:
            time.sleep(0.02)
        if not self._server.started:
            raise ConfigError(f"the console did not start on {self.settings.host}:{self.port}; see the log")
        logins = "login required" if self.settings.users else "no login (this PC only)"
        log.info("console serving on %s (%s)", self.url, logins)

    def close(self, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
        self._socket.close()

    def _serve(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except Exception:
            log.exception("console server stopped")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"console: cannot listen on {host}:{port} ({exc.strerror}); "
                          "choose another console.port or stop what uses it") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock
