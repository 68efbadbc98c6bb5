"""The publisher against a real Mosquitto: order, each once, broker crash, availability, v3.1.1."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from plc_bridge.mqtt.outbox import Outbox
from plc_bridge.mqtt.publisher import MqttPublisher, MqttSettings
from tests.mosquitto import MosquittoBroker, Subscriber
from tests.waiting import wait_until

ROOT = "plant1/line3/press07"
WAIT_S = 60.0  # generous: a loaded 2-core CI box; every wait ends as soon as its condition holds


def make_publisher(port: int, outbox: Path, **overrides: object) -> MqttPublisher:
    client_id = f"edge-{uuid.uuid4().hex[:8]}"
    settings = MqttSettings("127.0.0.1", port, ROOT, client_id, **overrides)  # type: ignore[arg-type]
    return MqttPublisher(settings, Outbox(outbox))


def results(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"id": uuid.uuid4().hex, "seq": i} for i in range(start, start + n)]


def seqs_once_in_order(sub: Subscriber) -> list[int]:
    """Sequence numbers as a consumer keeps them: duplicates (same id) dropped, arrival order kept."""
    seen: set[str] = set()
    out = []
    for doc in sub.json("result"):
        if doc["id"] not in seen:
            seen.add(doc["id"])
            out.append(doc["seq"])
    return out


@pytest.fixture
def subscriber(mosquitto: MosquittoBroker):
    sub = Subscriber(mosquitto.port, f"{ROOT}/#")
    yield sub
    sub.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_thousand_results_arrive_in_order_each_once(
    mosquitto: MosquittoBroker, subscriber: Subscriber, tmp_path: Path, protocol: str
) -> None:
    pub = make_publisher(mosquitto.port, tmp_path / "outbox.sqlite", protocol=protocol)
    pub.start()
    for i in range(0, 1000, 4):  # one enqueue per trigger of a 4-cavity mold
        pub.enqueue("result", results(4, i))
    assert subscriber.wait_for(lambda s: len(seqs_once_in_order(s)) >= 1000, WAIT_S), pub.stats()
    assert seqs_once_in_order(subscriber) == list(range(1000))
    assert pub.wait_drained(WAIT_S)
    stats = pub.stats()
    assert (stats.delivered, stats.backlog, stats.rejected, stats.protocol) == (1000, 0, 0, protocol)
    pub.stop()
    assert subscriber.wait_for(lambda s: s.texts("availability")[-1:] == ["offline"], WAIT_S)


def test_broker_killed_and_restarted_mid_run_loses_nothing(mosquitto_factory, tmp_path: Path) -> None:
    users = {"edge": "edge-pw", "viewer": "viewer-pw"}
    broker = mosquitto_factory(users=users)
    sub = Subscriber(broker.port, f"{ROOT}/result", password="viewer-pw")
    pub = make_publisher(broker.port, tmp_path / "outbox.sqlite", username="edge", password="edge-pw",
                         reconnect_max_s=1)
    pub.start()
    try:
        pub.enqueue("result", results(500))
        # Kill once the viewer has what the broker acknowledged: a broker killed with -9 loses messages it
        # acknowledged but had not yet forwarded (no persistence; the RST also discards the viewer's
        # unread bytes). That is the broker's durability, not ours, so the test keeps it out.
        assert sub.wait_for(lambda s: len(s.json("result")) >= 500, WAIT_S)
        broker.kill()
        wait_until(lambda: not pub.stats().connected, "the publisher to see the broker gone", WAIT_S)
        for i in range(500, 1000, 4):  # the line keeps running during the outage: all into the outbox
            pub.enqueue("result", results(4, i))
        # Bring the broker back letting only the viewer in, so it is subscribed before the edge may
        # publish (a broker that crashed forgot every subscription); then let the edge in (SIGHUP).
        broker.set_users({"viewer": "viewer-pw"})
        broker.start()
        assert sub.wait_for(lambda s: s.subscriptions >= 2, WAIT_S)
        broker.set_users(users)
        assert sub.wait_for(lambda s: len(seqs_once_in_order(s)) >= 1000, WAIT_S), pub.stats()
        assert seqs_once_in_order(sub) == list(range(1000))
        assert pub.wait_drained(WAIT_S)  # the acks may land just after the viewer got the messages
    finally:
        pub.stop()
        sub.close()
