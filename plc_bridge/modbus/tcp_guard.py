"""Modbus TCP has no authentication, so the station guards its own door.

`GuardedTcpServer` is pymodbus' `ModbusTcpServer` with one change: each accepted connection is looked
at before it is served. A peer outside the allow-list is aborted at once (RST, so a flood never holds a
file descriptor), an allowed peer beyond the connection cap pushes out the longest-idle connection, one that
never sent a request first (a PLC that reconnects after a cable pull must always get in, and one that
leaks connections must not push out its own polling one), and a connection silent for longer than the idle
timeout is closed. Every refusal is counted by reason and logged rate-limited, one line, no traceback.
Accepted sockets get TCP keepalive, so a PLC that vanished without a FIN is noticed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import Counter
from dataclasses import dataclass

from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)

KEEPALIVE_PROBES = 3
# Counter keys, as they appear in status() after "tcp_"
REFUSED_NOT_ALLOWED, CLOSED_OVER_CAP, CLOSED_IDLE = "refused_not_allowed", "closed_over_cap", "closed_idle"


@dataclass(frozen=True, slots=True)
class TcpGuardSettings:
    allowed_clients: tuple[str, ...] = ("127.0.0.1",)  # addresses or networks (CIDR)
    max_connections: int = 4
    idle_timeout_s: float = 60.0
    keepalive_s: int = 10  # first probe after this much silence, then every keepalive_s


def parse_allowed(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The allow-list as networks; a bad entry raises ValueError naming it."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


class _GuardedHandler(ServerRequestHandler):
    """One client connection: vetted by the server on connect, stamped on every byte received."""

    server: GuardedTcpServer

    def __init__(self, owner: GuardedTcpServer, *args: object) -> None:
        super().__init__(owner, *args)
        self.peer = "?"  # until connected
        self.last_activity_s = time.monotonic()
        self.requests_seen = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peername = transport.get_extra_info("peername")
        self.peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        if self.server.admit(self, peername[0] if peername else ""):
            _set_keepalive(transport.get_extra_info("socket"), self.server.guard.keepalive_s)
            super().connection_made(transport)
            return
        # Never served: drop it from pymodbus' table and abort (RST) so no descriptor lingers. The
        # transport attribute stays None, so pymodbus' connection_lost ignores the abort.
        self.is_closing = True
        self.server.active_connections.pop(self.unique_id, None)
        self.listener = None
        transport.abort()

    def data_received(self, data: bytes) -> None:
        self.last_activity_s = time.monotonic()
        self.requests_seen = True
        super().data_received(data)


class GuardedTcpServer(ModbusTcpServer):
    """A ModbusTcpServer that admits only allow-listed peers, caps connections and closes idle ones."""

    def __init__(self, *args: object, guard: TcpGuardSettings, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.guard = guard
        self._allowed = parse_allowed(guard.allowed_clients)
        self.refused: Counter[str] = Counter()

    def callback_new_connection(self) -> _GuardedHandler:
        return _GuardedHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)

    def admit(self, handler: _GuardedHandler, host: str) -> bool:
        if not self._is_allowed(host):
            self._refuse(REFUSED_NOT_ALLOWED, handler.peer, "not in plc.allowed_clients")
            return False
        served = [h for h in self._handlers() if h is not handler]
        if len(served) >= self.guard.max_connections:
            # A connection that never sent a request goes before one that did (the PLC polling).
            oldest = min(served, key=lambda h: (h.requests_seen, h.last_activity_s))
            self._refuse(CLOSED_OVER_CAP, oldest.peer,
                         f"plc.max_connections {self.guard.max_connections} reached; longest idle closed")
            oldest.close()
        return True

    def close_idle(self) -> None:
        """Close connections silent for longer than the idle timeout (called from the server's tick)."""
        limit_s = time.monotonic() - self.guard.idle_timeout_s
        for handler in [h for h in self._handlers() if h.last_activity_s < limit_s]:
            self._refuse(CLOSED_IDLE, handler.peer, f"silent for {self.guard.idle_timeout_s:g} s")
            handler.close()

    def status(self) -> dict[str, object]:
        counts = {f"tcp_{reason}": self.refused[reason]
                  for reason in (REFUSED_NOT_ALLOWED, CLOSED_OVER_CAP, CLOSED_IDLE)}
        return {"tcp_connections": len(self._handlers()), **counts}

    def _handlers(self) -> list[_GuardedHandler]:
        return [h for h in self.active_connections.values() if isinstance(h, _GuardedHandler)]

    def _is_allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)  # an IPv4 peer on a dual-stack socket
        return any((mapped or address) in network for network in self._allowed)

    def _refuse(self, reason: str, peer: str, why: str) -> None:
        self.refused[reason] += 1
        if worth_logging(self.refused[reason]):
            log.warning("Modbus TCP: closed connection from %s: %s (%d such so far)", peer, why,
                        self.refused[reason])


def _set_keepalive(sock: socket.socket | None, keepalive_s: int) -> None:
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):  # Linux; other systems keep their default probe timing
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, keepalive_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)
