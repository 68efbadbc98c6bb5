"""sim/broker.py, the demo broker: Mosquitto when installed, else a clear message (amqtt not installed)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest

import sim.broker
from plc_bridge.mqtt.outbox import Outbox
from plc_bridge.mqtt.publisher import MqttPublisher, MqttSettings
from sim.broker import BrokerUnavailable, free_port, local_broker


def test_local_broker_runs_mosquitto_and_carries_results(tmp_path: Path) -> None:
    with local_broker(port=free_port()) as info:
        assert info.kind == "mosquitto"
        pub = MqttPublisher(MqttSettings(info.host, info.port, "demo/line/st", "demo"),
                            Outbox(tmp_path / "o.sqlite"))
        pub.start()
        pub.enqueue("result", [{"id": uuid.uuid4().hex}])
        assert pub.wait_drained(60.0)
        pub.stop()


@pytest.mark.skipif(importlib.util.find_spec("amqtt") is not None, reason="amqtt is installed here")
def test_without_any_broker_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim.broker, "find_mosquitto", lambda: None)
    with pytest.raises(BrokerUnavailable, match="apt-get install mosquitto"), local_broker(port=free_port()):
        pass
