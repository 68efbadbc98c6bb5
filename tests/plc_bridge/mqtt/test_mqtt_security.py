"""TLS with a test CA, a wrong password, an ACL-denied topic: clear errors, nothing lost or miscounted."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from plc_bridge.mqtt.outbox import Outbox
from plc_bridge.mqtt.publisher import MqttPublisher, MqttSettings
from sim.broker import free_port
from tests.mosquitto import Subscriber, make_test_ca
from tests.waiting import wait_until

ROOT = "plant1/line3/press07"
WAIT_S = 60.0


def docs(n: int) -> list[dict[str, object]]:
    return [{"id": uuid.uuid4().hex, "seq": i} for i in range(n)]


def test_tls_with_client_certificate(mosquitto_factory, tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path / "ca")
    broker = mosquitto_factory(tls=ca, require_client_cert=True)
    settings = MqttSettings("127.0.0.1", broker.port, ROOT, "edge-tls", tls_ca=str(ca.ca),
                            tls_cert=str(ca.client_cert), tls_key=str(ca.client_key))
    pub = MqttPublisher(settings, Outbox(tmp_path / "outbox.sqlite"))
    pub.start()
    try:
        pub.enqueue("result", docs(20))
        assert pub.wait_drained(WAIT_S), pub.stats()
        assert pub.stats().delivered == 20
    finally:
        pub.stop()


def test_wrong_password_is_a_clear_error_and_results_wait_in_the_outbox(
    mosquitto_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = mosquitto_factory(users={"edge": "right-password"})
    settings = MqttSettings("127.0.0.1", broker.port, ROOT, "edge-pw", username="edge",
                            password="wrong-password-123")
    pub = MqttPublisher(settings, Outbox(tmp_path / "outbox.sqlite"))
    caplog.set_level(logging.INFO)
    pub.start()
    try:
        pub.enqueue("result", docs(10))  # returns at once although nothing can be delivered
        assert pub.wait_connected(0) is False
        wait_until(lambda: pub.stats().last_error, "the publisher to report its error", WAIT_S)
        stats = pub.stats()
        assert stats.last_error is not None and "refused the connection" in stats.last_error
        assert "Bad user name or password" in stats.last_error or "Not authorized" in stats.last_error
        assert (stats.connected, stats.backlog, stats.delivered) == (False, 10, 0)
        assert "wrong-password-123" not in caplog.text and "wrong-password-123" not in repr(settings)
    finally:
        pub.stop(drain_timeout_s=0)


def test_acl_denied_publish_is_reported_not_delivered(mosquitto_factory, tmp_path: Path) -> None:
    acl = (f"user edge\ntopic write {ROOT}/result\ntopic write {ROOT}/availability\n"
           f"topic write {ROOT}/status\n\nuser viewer\ntopic read {ROOT}/#\n")
    broker = mosquitto_factory(users={"edge": "edge-pw", "viewer": "viewer-pw"}, acl=acl)
    sub = Subscriber(broker.port, f"{ROOT}/#", password="viewer-pw")
    pub = MqttPublisher(MqttSettings("127.0.0.1", broker.port, ROOT, "edge-acl", username="edge",
                                     password="edge-pw"), Outbox(tmp_path / "outbox.sqlite"))
    pub.start()
    try:
        assert sub.wait_for(lambda s: s.subscriptions >= 1, WAIT_S)
        pub.enqueue("result", docs(3))
        pub.enqueue("alert", docs(1))  # not allowed by the ACL: MQTT 5 PUBACK 0x87 Not authorized
        pub.enqueue("result", [{"id": uuid.uuid4().hex, "seq": 3}])  # the denied one does not block the rest
        assert sub.wait_for(lambda s: len(s.json("result")) == 4, WAIT_S)
        assert pub.wait_drained(WAIT_S)
        stats = pub.stats()
        assert (stats.delivered, stats.rejected, stats.backlog) == (4, 1, 0)
        assert stats.last_error is not None and "Not authorized" in stats.last_error
        assert pub.outbox.rejected() == 1  # kept for a person to look at
        assert sub.json("alert") == []
    finally:
        pub.stop()
        sub.close()


@pytest.mark.parametrize("case", ["wrong CA", "wrong host name"])
def test_tls_failures_are_named_as_such_not_as_an_unreachable_broker(
        case: str, mosquitto_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 17: a wrong CA or a certificate for another host was logged "cannot reach MQTT broker"."""
    names = "DNS:broker.plant1.example" if case == "wrong host name" else "IP:127.0.0.1,DNS:localhost"
    served = make_test_ca(tmp_path / "served", server_names=names)
    trusted = make_test_ca(tmp_path / "other").ca if case == "wrong CA" else served.ca
    broker = mosquitto_factory(tls=served)
    settings = MqttSettings("127.0.0.1", broker.port, ROOT, "edge-tls-bad", tls_ca=str(trusted))
    pub = MqttPublisher(settings, Outbox(tmp_path / "outbox.sqlite"))
    caplog.set_level(logging.ERROR)
    pub.start()
    try:
        error = wait_until(lambda: pub.stats().last_error, "the publisher to report its error", WAIT_S)
        assert "cannot reach" not in error and error.startswith("TLS: the certificate of MQTT broker")
        if case == "wrong CA":
            assert f"not trusted by mqtt.tls.ca {trusted}" in error
        else:
            assert "is not valid for the name '127.0.0.1'" in error and "set mqtt.host" in error
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        pub.stop(drain_timeout_s=0)


def test_a_closed_port_is_still_an_unreachable_broker(tmp_path: Path) -> None:
    pub = MqttPublisher(MqttSettings("127.0.0.1", free_port(), ROOT, "edge-none"),
                        Outbox(tmp_path / "outbox.sqlite"))
    pub.start()
    try:
        error = wait_until(lambda: pub.stats().last_error, "the publisher to report its error", WAIT_S)
        assert error.startswith("cannot reach MQTT broker 127.0.0.1:") and "refused" in error.lower()
    finally:
        pub.stop(drain_timeout_s=0)

