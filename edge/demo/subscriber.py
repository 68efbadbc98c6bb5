"""A supervisor's view of the demo: an MQTT client subscribed to the station's `result` topic, counting
what actually arrived (NG by cavity, NO_DECISION), independent of what the runtime says it sent."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import paho.mqtt.client as paho

SUBSCRIBE_TIMEOUT_S = 10.0


class ResultSubscriber:
    def __init__(self, host: str, port: int, topic_root: str) -> None:
        self.topic = f"{topic_root.strip('/')}/result"
        self._host, self._port = host, port
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="moldpilot-demo-supervisor")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._cond = threading.Condition()  # counters: written by paho's thread, read by the demo
        self.results = 0
        self.decisions: Counter[str] = Counter()
        self.ng_by_cavity: Counter[int] = Counter()

    def __enter__(self) -> ResultSubscriber:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(SUBSCRIBE_TIMEOUT_S):
            self.__exit__()
            raise RuntimeError(f"no SUBACK for {self.topic} from {self._host}:{self._port} "
                               f"within {SUBSCRIBE_TIMEOUT_S:.0f} s")
        return self

    def __exit__(self, *_: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def counts(self) -> dict[str, Any]:
        with self._cond:
            return {"results": self.results, "decisions": dict(self.decisions),
                    "ng_by_cavity": dict(sorted(self.ng_by_cavity.items()))}

    def wait_for(self, results: int, timeout_s: float) -> bool:
        """True once `results` messages arrived; False at the timeout (then some never came)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.results >= results, timeout_s)

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe(self.topic, qos=1)  # on every (re)connect, as a supervisor's client does

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        doc = json.loads(message.payload)
        with self._cond:
            self.results += 1
            self.decisions[doc["decision"]] += 1
            if doc["decision"] == "NG":
                self.ng_by_cavity[int(doc["cavity"])] += 1
            self._cond.notify_all()
