"""A local MQTT broker for demos on a laptop: the system Mosquitto when installed, else amqtt.

    with local_broker(port=1883) as broker:
        ...  # publish to 127.0.0.1:broker.port

Mosquitto is the broker of a real shop floor, so it is preferred; amqtt (a pure-Python broker) is an
optional fallback that is NOT a dependency of MoldPilot (`pip install amqtt` to use it). With neither,
`BrokerUnavailable` says what to install. Loopback only, anonymous, no persistence: a demo broker.
The tests do not use this module; they start Mosquitto themselves (tests/mosquitto.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 10.0
_MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


class BrokerUnavailable(RuntimeError):
    """Neither Mosquitto nor amqtt is installed."""


@dataclass(frozen=True)
class BrokerInfo:
    host: str
    port: int
    kind: str  # "mosquitto" | "amqtt"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for a broker next to another one)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next((p for p in _MOSQUITTO_PATHS if Path(p).exists()), None)


@contextlib.contextmanager
def local_broker(port: int = 1883, host: str = "127.0.0.1") -> Iterator[BrokerInfo]:
    """Run a broker on host:port for the duration of the with-block."""
    exe = find_mosquitto()
    runner = _mosquitto(exe, host, port) if exe else _amqtt(host, port)
    with runner as info:
        yield info


def _wait_for_port(host: str, port: int, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerUnavailable(f"the MQTT broker exited while starting on {host}:{port} (port in use?)")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BrokerUnavailable(f"the MQTT broker did not listen on {host}:{port} within {START_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def _mosquitto(exe: str, host: str, port: int) -> Iterator[BrokerInfo]:
    with tempfile.TemporaryDirectory(prefix="moldpilot-broker-") as folder:
        conf = Path(folder) / "mosquitto.conf"
        conf.write_text(f"listener {port} {host}\nallow_anonymous true\npersistence false\n")
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(host, port, lambda: proc.poll() is None)
            yield BrokerInfo(host, port, "mosquitto")
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextlib.contextmanager
def _amqtt(host: str, port: int) -> Iterator[BrokerInfo]:
    try:
        from amqtt.broker import Broker  # optional: only for laptops without Mosquitto
    except ImportError:
        raise BrokerUnavailable(
            "no MQTT broker for the demo: install Mosquitto (Debian/Ubuntu: sudo apt-get install mosquitto; "
            "macOS: brew install mosquitto) or the pure-Python broker (pip install amqtt)"
        ) from None
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "sys_interval": 0,
        "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
        "topic-check": {"enabled": False},
    }
    loop = asyncio.new_event_loop()
    broker = Broker(config, loop=loop)
    thread = threading.Thread(target=loop.run_forever, name="amqtt-broker", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(broker.start(), loop).result(START_TIMEOUT_S)
    try:
        _wait_for_port(host, port, thread.is_alive)
        yield BrokerInfo(host, port, "amqtt")
    finally:
        asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(START_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_S)
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a local MQTT broker for MoldPilot demos (Ctrl-C stops)")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    with local_broker(args.port, args.host) as info:
        print(f"{info.kind} listening on {info.host}:{info.port}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
