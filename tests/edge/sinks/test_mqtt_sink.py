"""The pipeline's MQTT sink built from station.yaml: results, Korean alerts, retained status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.alerts.rules import AlertEngine, AlertRules
from edge.config import load_config
from edge.errors import ConfigError
from edge.replay import replay
from edge.sinks.mqtt import MqttSink, build_mqtt_sink
from edge.verdict import Decision, ErrorCode, Verdict
from plc_bridge.mqtt.outbox import Outbox
from plc_bridge.mqtt.publisher import MqttPublisher, MqttSettings
from sim.broker import free_port
from sim.footage import FootageSettings, write_footage
from sim.timeline import load_timeline
from tests.mosquitto import MosquittoBroker, Subscriber
from tests.waiting import wait_until

WAIT_S = 60.0


def station_yaml(folder: Path, port: int, extra: str = "") -> Path:
    (folder / "model.onnx").write_bytes(b"not loaded here")
    path = folder / "station.yaml"
    path.write_text(f"""\
station: {{site: plant1, line: line3, name: press07}}
source: {{kind: file, uri: footage.avi, mode: triggered}}
model: {{path: model.onnx}}
mqtt: {{host: 127.0.0.1, port: {port}, outbox: var/outbox.sqlite{extra}}}
alerts: {{language: ko, ng_streak: 2, cavity_ng_rate: {{window: 10, threshold: 0.5}}}}
""", encoding="utf-8")
    return path


def trigger(shot: int, ng_cavity: int) -> list[Verdict]:
    return [Verdict(shot, shot * 4 + c, shot, c, shot, Decision.NG if c == ng_cavity else Decision.OK,
                    "short_shot" if c == ng_cavity else None, 0.9 if c == ng_cavity else 0.1, ErrorCode.NONE,
                    {"total": 12.0}, 0.0, 0.0) for c in (1, 2, 3, 4)]


def test_sink_publishes_results_alerts_and_status(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    sink = build_mqtt_sink(load_config(station_yaml(tmp_path, mosquitto.port)), model="tiny_defect")
    assert sink is not None
    sub = Subscriber(mosquitto.port, "plant1/line3/press07/#")
    try:
        assert sub.wait_for(lambda s: s.subscriptions >= 1, WAIT_S)
        sink.open()
        for shot in range(1, 4):
            sink.write(trigger(shot, ng_cavity=3))
        assert sub.wait_for(lambda s: len(s.json("result")) == 12 and s.json("alert"), WAIT_S)
        results = sub.json("result")
        assert [(r["shot"], r["cavity"]) for r in results] == [(s, c) for s in (1, 2, 3) for c in range(1, 5)]
        assert results[2]["schema"] == "moldpilot.result/1" and results[2]["decision"] == "NG"
        (alert,) = sub.json("alert")
        assert (alert["type"], alert["code"], alert["cavity"], alert["station"]) == ("new", "NG_STREAK", 3,
                                                                                      "press07")
        assert alert["message"] == "3번 캐비티 2개 연속 불량 (마지막: 미성형(short shot))"
        sink.plc_fault(True, "하트비트 없음 3초")
        assert sub.wait_for(lambda s: any(a["code"] == "PLC_LINK_LOST" for a in s.json("alert")), WAIT_S)
    finally:
        sink.close()
        sub.close()
    late = Subscriber(mosquitto.port, "plant1/line3/press07/#", client_id="dashboard")
    try:  # a dashboard connecting now gets the retained status and availability
        assert late.wait_for(lambda s: s.json("status") and s.texts("availability") == ["offline"], WAIT_S)
        status = late.json("status")[-1]
        assert (status["parts"], status["decisions"], status["ng_by_cavity"]) == (
            12, {"OK": 9, "NG": 3}, {"1": 0, "2": 0, "3": 3, "4": 0})
        assert status["outbox"]["backlog"] == 0 and status["model"] == "tiny_defect"
    finally:
        late.close()


def test_secret_env_variable_named_but_unset_is_a_config_error(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOLDPILOT_TEST_MQTT_PASS", raising=False)
    config = load_config(station_yaml(tmp_path, 1883, ", password_env: MOLDPILOT_TEST_MQTT_PASS"))
    with pytest.raises(ConfigError, match=r"mqtt\.password_env names .* MOLDPILOT_TEST_MQTT_PASS, but it is"):
        build_mqtt_sink(config)


def test_outbox_overflow_while_the_broker_is_unreachable_is_counted_and_alerted(tmp_path: Path) -> None:
    """No broker at all: inspection goes on, the bounded outbox keeps the newest and says what it dropped."""
    settings = MqttSettings("127.0.0.1", free_port(), "plant1/line3/press07", "edge-offline")
    publisher = MqttPublisher(settings, Outbox(tmp_path / "o.sqlite", max_messages=10))
    sink = MqttSink(publisher, AlertEngine(AlertRules(ng_streak=None, rate_window=None)), "line3", "press07")
    sink.open()
    try:
        for shot in range(1, 5):
            sink.write(trigger(shot, ng_cavity=0))
        wait_until(lambda: publisher.stats().last_error, "the publisher to report its error", WAIT_S)
        assert "cannot reach MQTT broker" in str(publisher.stats().last_error)
        rows = [json.loads(m.payload) for m in publisher.outbox.pending(0, 100)]
        assert len(rows) == 10 and publisher.stats().dropped >= 6
        alerts = [r for r in rows if r.get("schema") == "moldpilot.alert/1"]
        assert [(a["code"], a["type"]) for a in alerts] == [("OUTBOX_OVERFLOW", "new")]
        assert rows[-2]["shot"] == 4  # the newest results are kept
    finally:
        sink.publisher.stop(drain_timeout_s=0)


def test_thousand_part_replay_arrives_in_order_each_once(mosquitto: MosquittoBroker, tmp_path: Path,
                                                         tiny_model: Path) -> None:
    """The issue's case end to end: a 1,000-part replay (250 shots x 4 cavities of simulator footage,
    a real ONNX model) with a station.yaml that has an `mqtt:` section: replay builds the station's MQTT
    sink from it, as `run` does, and the subscriber gets every part once, in order."""
    footage = tmp_path / "line.avi"
    # 4 frames per shot keeps the footage small; the timeline still has one trigger per shot
    write_footage(footage, FootageSettings(shots=250, seed=61, cavities=4, fps=2.0, cycle_s=2.0, cell_px=64))
    config = load_config(station_yaml(tmp_path, mosquitto.port))
    sub = Subscriber(mosquitto.port, "plant1/line3/press07/result")
    try:
        assert sub.wait_for(lambda s: s.subscriptions >= 1, WAIT_S)
        result = replay(footage, config, load_timeline(footage), model_path=tiny_model, progress=False)
        assert result.summary["parts"] == 1000
        assert sub.wait_for(lambda s: len(s.json("result")) >= 1000, WAIT_S)
        results = sub.json("result")
        assert len(results) == 1000 and len({r["id"] for r in results}) == 1000
        expected = [(shot, cavity) for shot in range(1, 251) for cavity in (1, 2, 3, 4)]
        assert [(r["shot"], r["cavity"]) for r in results] == expected
    finally:
        sub.close()
