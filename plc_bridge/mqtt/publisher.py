"""MQTT publisher: results and alerts from the durable outbox, availability and status, never blocking.

Threads: paho's network thread (`loop_start`) runs the callbacks; our pump thread ("mqtt-pump") moves
rows from the outbox to paho in `seq` order, at most `max_inflight` unacknowledged at a time, and deletes
what the broker acknowledged. The callbacks never touch the outbox or take our locks: paho may call
`on_publish` while holding its own message lock, and the pump holds none of ours while it calls `publish`;
callbacks only push to a queue and wake the pump (no deadlock by construction).

Order across a reconnect: paho re-sends its unacknowledged QoS 1 messages right after the CONNACK. The
pump hands over nothing new until those are acknowledged, so a subscriber never sees a newer result
before an older one. A restarted runtime starts from the oldest row of the outbox; a message that was
delivered but not yet deleted when the process died is sent again, with the same `id` (at-least-once).

Connection problems (wrong password, unreachable broker, TLS failure: an untrusted CA or a certificate
for another host name, each said as such) are logged once per distinct error, kept in
`stats().last_error`, and paho keeps retrying with backoff; the caller keeps enqueuing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import ssl
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from plc_bridge.mqtt.outbox import Outbox, OutMessage

log = logging.getLogger(__name__)

Protocol = Literal["auto", "5", "3.1.1"]
_PRUNE_EVERY_S = 60.0
# CONNACK reasons meaning "this broker does not speak MQTT 5": v5 0x84, or a 3.1.1 broker's return code 1.
_NO_V5_REASONS = {"Unsupported protocol version", "Unacceptable protocol version"}
_HOSTNAME_MISMATCH = {62, 64}  # OpenSSL X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


@dataclass(frozen=True)
class MqttSettings:
    """Everything the publisher needs; secrets are values here (the edge reads them from env names)."""

    host: str
    port: int
    topic_root: str
    client_id: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in repr, never logged
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    protocol: Protocol = "auto"
    keepalive_s: int = 30
    max_inflight: int = 100
    result_expiry_s: int | None = 24 * 3600  # MQTT 5 message expiry of results and alerts
    reconnect_max_s: int = 30

    def topic(self, leaf: str) -> str:
        return f"{self.topic_root.strip('/')}/{leaf}"


@dataclass(frozen=True, slots=True)
class PublisherStats:
    connected: bool
    protocol: str
    delivered: int  # acknowledged with a success reason code, removed from the outbox
    rejected: int  # refused by the broker (reason code >= 0x80), kept in the outbox
    backlog: int  # waiting in the outbox
    dropped: int  # removed by the outbox bounds
    last_error: str | None
    lost: int = 0  # never stored: the disk could not take them


class MqttPublisher:
    """`enqueue` stores and returns at once; the pump delivers. `stop` drains for a while, then leaves."""

    def __init__(self, settings: MqttSettings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox
        self._protocol = MQTTProtocolVersion.MQTTv311 if settings.protocol == "3.1.1" else (
            MQTTProtocolVersion.MQTTv5)
        self._events: queue.SimpleQueue[tuple[int, bool, str]] = queue.SimpleQueue()  # (mid, ok, reason)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Lock()  # guards the counters and texts below (never held around paho calls)
        self._session = 0  # +1 per disconnect: the pump gates new publishes until old ones are acked
        self._fallback = False
        self._delivered = self._rejected = 0
        self._last_error: str | None = None
        self._status: bytes | None = None
        self._pump = threading.Thread(target=self._run, name="mqtt-pump", daemon=True)
        self._client = self._make_client()

    # ---- caller side -------------------------------------------------------------------------------

    def start(self) -> None:
        self._connect(self._client)
        self._pump.start()

    def enqueue(self, leaf: str, docs: list[dict[str, Any]], keep: bool = False) -> int:
        """Store JSON docs for topic {root}/{leaf} (one transaction); returns rows dropped by the bound.
        `keep`: the bound drops these only after every other row (alerts outlive results)."""
        messages = [OutMessage(self.settings.topic(leaf), _dumps(d), keep=keep) for d in docs]
        dropped = self.outbox.put(messages)
        self._wake.set()
        return dropped

    def publish_status(self, doc: Mapping[str, Any]) -> None:
        """Retained status: latest wins, so it bypasses the outbox; re-sent on every reconnect."""
        payload = _dumps(doc)
        with self._lock:
            self._status = payload
        if self._connected.is_set():
            self._client.publish(self.settings.topic("status"), payload, qos=1, retain=True)

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def wait_drained(self, timeout_s: float) -> bool:
        """True once the outbox holds nothing deliverable (checked every 50 ms up to timeout_s)."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.backlog():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stats(self) -> PublisherStats:
        with self._lock:
            delivered, rejected, error = self._delivered, self._rejected, self._last_error
        name = "5" if self._protocol == MQTTProtocolVersion.MQTTv5 else "3.1.1"
        return PublisherStats(self._connected.is_set(), name, delivered, rejected, self.outbox.backlog(),
                              self.outbox.dropped, error, self.outbox.lost)

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what we can within drain_timeout_s, say `offline`, disconnect; the rest waits on disk."""
        if self._connected.is_set():
            self.wait_drained(drain_timeout_s)
            info = self._client.publish(self.settings.topic("availability"), "offline", qos=1, retain=True)
            # RuntimeError: the connection dropped meanwhile; the last will says offline instead.
            with contextlib.suppress(RuntimeError):
                info.wait_for_publish(timeout=min(2.0, drain_timeout_s))
        self._stopping.set()
        self._wake.set()
        if self._pump.is_alive():
            self._pump.join(drain_timeout_s + 5.0)
        self._client.disconnect()
        self._client.loop_stop()
        self.outbox.close()

    # ---- paho client -------------------------------------------------------------------------------

    def _make_client(self) -> paho.Client:
        s = self.settings
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=self._protocol)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls_ca or s.tls_cert:
            client.tls_set(ca_certs=s.tls_ca, certfile=s.tls_cert, keyfile=s.tls_key)
        client.will_set(s.topic("availability"), "offline", qos=1, retain=True)
        client.max_inflight_messages_set(s.max_inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, s.reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _connect(self, client: paho.Client) -> None:
        s = self.settings
        kwargs: dict[str, Any] = {"clean_start": True} if self._protocol == MQTTProtocolVersion.MQTTv5 else {}
        client.connect_async(s.host, s.port, keepalive=s.keepalive_s, **kwargs)
        client.loop_start()  # paho's thread is named paho-mqtt-client-<client_id>

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            if self.settings.protocol == "auto" and str(reason) in _NO_V5_REASONS:
                self._fallback = True  # the pump rebuilds the client for MQTT 3.1.1
                self._wake.set()
            self._error(f"broker {self.settings.host}:{self.settings.port} refused the connection: {reason}")
            return
        client.publish(self.settings.topic("availability"), "online", qos=1, retain=True)
        with self._lock:
            status, self._last_error = self._status, None
        if status is not None:
            client.publish(self.settings.topic("status"), status, qos=1, retain=True)
        self._connected.set()
        self._wake.set()
        log.info("MQTT connected to %s:%d (protocol %s)", self.settings.host, self.settings.port,
                 "5" if self._protocol == MQTTProtocolVersion.MQTTv5 else "3.1.1")

    def _on_connect_fail(self, _c: paho.Client, _u: Any) -> None:
        # paho calls this from inside its `except OSError` around the connect and does not pass the
        # error on; sys.exc_info() is that error, so a TLS failure is named as what it is.
        s = self.settings
        self._error(f"{connect_failure(s.host, s.port, s.tls_ca, sys.exc_info()[1])}; retrying")

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        with self._lock:
            self._session += 1
        if was_connected and not self._stopping.is_set():
            self._error(f"lost MQTT broker {self.settings.host}:{self.settings.port} ({reason}); retrying")

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self._events.put((mid, not reason.is_failure, str(reason)))
        self._wake.set()

    def _error(self, text: str) -> None:
        with self._lock:
            changed, self._last_error = text != self._last_error, text
        if changed:  # one line per distinct problem, not one per retry
            log.error("%s", text)

    # ---- pump thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        inflight: dict[int, int] = {}  # paho mid -> outbox seq
        cursor = 0  # highest seq handed to paho
        session = 0
        next_prune_s = 0.0
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            self._settle(inflight)
            if self._fallback:
                cursor = self._fall_back_to_v311(inflight)
            if time.monotonic() >= next_prune_s:
                self.outbox.prune()
                next_prune_s = time.monotonic() + _PRUNE_EVERY_S
            with self._lock:
                current = self._session
            if current != session and inflight:
                continue  # paho re-sends these first; wait for their acks to keep the order
            session = current
            if self._connected.is_set():
                cursor = self._hand_over(inflight, cursor)

    def _settle(self, inflight: dict[int, int]) -> None:
        """Apply the acknowledgements that arrived since the last cycle, in one transaction each way."""
        delivered: list[int] = []
        rejected: list[tuple[int, str]] = []
        while True:
            try:
                mid, ok, reason = self._events.get_nowait()
            except queue.Empty:
                break
            seq = inflight.pop(mid, None)
            if seq is None:
                continue  # availability / status: not from the outbox
            if ok:
                delivered.append(seq)
            else:
                rejected.append((seq, reason))
        with self._lock:  # counters first: once the backlog reads empty, the counts are final
            self._delivered += len(delivered)
            self._rejected += len(rejected)
        self.outbox.ack(delivered)
        self.outbox.reject(seq for seq, _ in rejected)
        if rejected:
            self._error(f"broker refused {len(rejected)} message(s): {rejected[0][1]} (ACL?);"
                        f" kept as rejected in {self.outbox.path}")

    def _hand_over(self, inflight: dict[int, int], cursor: int) -> int:
        room = self.settings.max_inflight - len(inflight)
        if room <= 0:
            return cursor
        for m in self.outbox.pending(cursor, room):
            info = self._client.publish(m.topic, m.payload, qos=m.qos, properties=self._expiry(m))
            if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
                break
            # NO_CONN: the connection dropped between the check and the call; paho keeps a QoS 1 message
            # and sends it after the reconnect, so it is in flight all the same.
            inflight[info.mid] = m.seq
            cursor = m.seq
            if info.rc == paho.MQTT_ERR_NO_CONN:
                break
        return cursor

    def _expiry(self, m: OutMessage) -> Properties | None:
        if self._protocol != MQTTProtocolVersion.MQTTv5 or self.settings.result_expiry_s is None:
            return None
        props = Properties(PacketTypes.PUBLISH)
        waited_s = max(0, int(time.time() - m.created_s))  # a backlog row keeps its original deadline
        props.MessageExpiryInterval = max(1, self.settings.result_expiry_s - waited_s)
        return props

    def _fall_back_to_v311(self, inflight: dict[int, int]) -> int:
        """The broker speaks only 3.1.1: a fresh client; the outbox re-sends whatever the old one held."""
        log.warning("MQTT broker does not support MQTT 5; falling back to 3.1.1")
        self._fallback = False
        self._client.loop_stop()
        self._protocol = MQTTProtocolVersion.MQTTv311
        self._client = self._make_client()
        inflight.clear()
        self._connect(self._client)
        return 0


def connect_failure(host: str, port: int, tls_ca: str | None, exc: BaseException | None) -> str:
    """What a failed connect was, in one line with what to check: a certificate for another host name,
    a CA that does not trust it, another TLS failure, or a broker that cannot be reached. Shared with
    `doctor`, so the log and the check say the same."""
    where = f"MQTT broker {host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        if exc.verify_code in _HOSTNAME_MISMATCH:
            return (f"TLS: the certificate of {where} is not valid for the name {host!r} ({reason}); set "
                    "mqtt.host to a name the certificate lists, or reissue it with this one")
        return (f"TLS: the certificate of {where} is not trusted by mqtt.tls.ca {tls_ca} ({reason}); "
                "set mqtt.tls.ca to the CA that signed the broker's certificate")
    if isinstance(exc, ssl.SSLError):
        return (f"TLS handshake with {where} failed ({exc.reason or exc}); check that the port speaks TLS "
                "and mqtt.tls.cert / key if the broker requires a client certificate")
    detail = f" ({exc})" if exc is not None else ""
    return f"cannot reach {where}{detail}"


def iso_utc(ts_s: float) -> str:
    """The `ts` of every JSON message: ISO 8601, UTC, milliseconds (dashboards parse it as is)."""
    return datetime.fromtimestamp(ts_s, timezone.utc).isoformat(timespec="milliseconds")


def _dumps(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
