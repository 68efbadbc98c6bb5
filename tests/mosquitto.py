"""A real Mosquitto broker for tests: free loopback port, own config in tmp_path, kill and restart.

`MosquittoBroker` writes mosquitto.conf (listener on 127.0.0.1, optional password file made with
`mosquitto_passwd`, optional ACL, optional TLS), starts `/usr/sbin/mosquitto -c conf`, and returns once the
port accepts connections. `kill()` is SIGKILL (a crash, not a clean stop); `restart()` reuses the port.
`make_test_ca` makes a throw-away CA + server + client certificate with the `openssl` CLI (the
`cryptography` package is not a dependency of this project).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from sim.broker import free_port

MOSQUITTO = "/usr/sbin/mosquitto"
START_TIMEOUT_S = 15.0


def wait_for_port(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass(frozen=True)
class TestCa:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_test_ca(folder: Path, server_names: str = "IP:127.0.0.1,DNS:localhost") -> TestCa:
    """CA, a server certificate for `server_names` (subjectAltName) and a client certificate (EC P-256,
    1 day)."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test CA", "-days", "1")
    (folder / "san.ext").write_text(f"subjectAltName={server_names}\n")
    for name in ("server", "client"):
        run("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        ext = ["-extfile", "san.ext"] if name == "server" else []
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "1", *ext)
    return TestCa(*(folder / f for f in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")))


class MosquittoBroker:
    def __init__(
        self,
        folder: Path,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        tls: TestCa | None = None,
        require_client_cert: bool = False,
    ) -> None:
        if not Path(MOSQUITTO).exists():
            raise RuntimeError(f"{MOSQUITTO} missing: apt-get install mosquitto (make test does it)")
        self.folder = folder
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", f"log_dest file {self.log}",
                 "log_type error", "log_type warning", "log_type notice"]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to user `mosquitto`, who cannot read tmp_path
        self.pwfile = folder / "passwd"
        if users:
            self._write_users(users)
            lines += ["allow_anonymous false", f"password_file {self.pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            (folder / "acl").write_text(acl)
            lines.append(f"acl_file {folder / 'acl'}")
        if tls is not None:
            lines += [f"cafile {tls.ca}", f"certfile {tls.server_cert}", f"keyfile {tls.server_key}"]
            if require_client_cert:
                lines.append("require_certificate true")
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self._proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}: {err}{log}")
            if wait_for_port(self.port, 0.5):
                return
        raise RuntimeError(f"mosquitto did not accept connections on {self.port} within {START_TIMEOUT_S} s")

    def kill(self) -> None:
        """SIGKILL and reap: the broker vanishes like a crashed or power-cut server."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None

    def pause(self) -> None:
        """SIGSTOP: the broker hangs (sockets open, nothing read, nothing acknowledged)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def set_users(self, users: dict[str, str]) -> None:
        """Rewrite the password file; a running broker reloads it (SIGHUP), existing sessions stay."""
        self._write_users(users)
        if self._proc is not None:
            self._proc.send_signal(signal.SIGHUP)

    def _write_users(self, users: dict[str, str]) -> None:
        self.pwfile.unlink(missing_ok=True)
        for i, (name, password) in enumerate(users.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(["mosquitto_passwd", "-b", *create, str(self.pwfile), name, password], check=True)

    def restart(self) -> None:
        self.kill()
        self.start()


class Subscriber:
    """A plain paho subscriber (MQTT 5) that records (topic, payload, retain) and waits on conditions."""

    def __init__(self, port: int, topic: str, client_id: str = "viewer", password: str | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition(threading.RLock())
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=MQTTProtocolVersion.MQTTv5)
        self._client.on_message = self._on_message
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)  # again after a broker restart
        self._client.on_subscribe = self._on_subscribe
        self.subscriptions = 0  # SUBACKs received: a restarted broker has our subscription once this grows
        if password is not None:
            self._client.username_pw_set(client_id, password)
        self._client.reconnect_delay_set(1, 1)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_subscribe(self, *_: object) -> None:
        with self._cond:
            self.subscriptions += 1
            self._cond.notify_all()

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self._cond.notify_all()

    def json(self, leaf: str) -> list[dict[str, object]]:
        with self._cond:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/" + leaf)]

    def texts(self, leaf: str) -> list[str]:
        with self._cond:
            return [p.decode() for t, p, _ in self.messages if t.endswith("/" + leaf)]

    def wait_for(self, predicate: Callable[[Subscriber], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                # predicate reads self.messages through json()/texts(), which re-enter the (R)lock
                if predicate(self):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
