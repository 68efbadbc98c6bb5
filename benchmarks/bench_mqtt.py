"""Sustained results per second through the durable outbox to a local Mosquitto at QoS 1, and the latency
a result gains on its way (enqueue -> subscriber), with a subscriber attached as on a real line.

    .venv/bin/python benchmarks/bench_mqtt.py [--results 20000] [--per-trigger 4] [--rate 0]

--rate 0 (default) offers results as fast as possible: sustained throughput. --rate 400 paces them like a
busy line (4 cavities x 100 shots/s): the latency a result gains through SQLite, the pump and the broker.

Needs Mosquitto (sim/broker.py starts it on a free loopback port). Goal (issue 6): >= 2,000 results/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from plc_bridge.mqtt.outbox import Outbox
from plc_bridge.mqtt.publisher import MqttPublisher, MqttSettings
from sim.broker import free_port, local_broker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=20_000)
    parser.add_argument("--per-trigger", type=int, default=4, help="results per enqueue (cavities)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="results/s offered; 0: as fast as possible (throughput)")
    args = parser.parse_args()
    latencies_ms: list[float] = []
    done = threading.Event()

    def on_message(_c: object, _u: object, msg: paho.MQTTMessage) -> None:
        latencies_ms.append((time.time() - json.loads(msg.payload)["t"]) * 1000.0)
        if len(latencies_ms) >= args.results:
            done.set()

    with local_broker(port=free_port()) as broker, tempfile.TemporaryDirectory() as folder:
        sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub")
        sub.on_message = on_message
        sub.connect(broker.host, broker.port)
        sub.subscribe("bench/line/st/result", qos=1)
        sub.loop_start()
        pub = MqttPublisher(MqttSettings(broker.host, broker.port, "bench/line/st", "bench-pub"),
                            Outbox(Path(folder) / "outbox.sqlite"))
        pub.start()
        pub.wait_connected(10.0)
        t0 = time.perf_counter()
        enqueue_s = []
        for start in range(0, args.results, args.per_trigger):
            now_s = time.time()
            docs = [{"id": uuid.uuid4().hex, "seq": start + i, "t": now_s} for i in range(args.per_trigger)]
            t = time.perf_counter()
            pub.enqueue("result", docs)
            enqueue_s.append(time.perf_counter() - t)
            if args.rate:  # paced like a line: sleep until this trigger's slot
                time.sleep(max(0.0, t0 + (start + args.per_trigger) / args.rate - time.perf_counter()))
        produced_s = time.perf_counter() - t0
        done.wait(300.0)
        total_s = time.perf_counter() - t0
        pub.stop()
        sub.loop_stop()
    lat = sorted(latencies_ms)
    print(f"results            {len(lat)} of {args.results} ({args.per_trigger} per enqueue, QoS 1, MQTT 5)")
    print(f"enqueue (SQLite)   {args.results / produced_s:,.0f} results/s; per call median "
          f"{statistics.median(enqueue_s) * 1e3:.3f} ms, max {max(enqueue_s) * 1e3:.2f} ms")
    print(f"end to end         {len(lat) / total_s:,.0f} results/s sustained to the subscriber")
    how = f"offered at {args.rate:.0f} results/s" if args.rate else "burst: includes waiting in the backlog"
    median_ms, p99_ms = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
    print(f"added latency      median {median_ms:.1f} ms, p99 {p99_ms:.1f} ms ({how})")


if __name__ == "__main__":
    main()
