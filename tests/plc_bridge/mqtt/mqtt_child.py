"""A stand-in runtime for the crash tests: publishes results through the outbox until killed.

    python mqtt_child.py PORT OUTBOX FIRST_SEQ COUNT [PASSWORD]

Enqueues COUNT results (seq FIRST_SEQ, FIRST_SEQ+1, ...) one trigger of 4 parts at a time, printing
`committed <last seq>` after each commit so the test knows what is on disk, then `drained` once the
outbox is empty, and stays connected until killed (the test needs it alive to see the last will).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

from plc_bridge.mqtt.outbox import Outbox
from plc_bridge.mqtt.publisher import MqttPublisher, MqttSettings

PARTS_PER_TRIGGER = 4
TRIGGER_PERIOD_S = 0.002


def main() -> None:
    port, outbox, first, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    password = sys.argv[5] if len(sys.argv) > 5 else None
    settings = MqttSettings("127.0.0.1", port, "plant1/line3/press07", client_id="edge-child",
                            username="edge" if password else None, password=password)
    pub = MqttPublisher(settings, Outbox(outbox))
    pub.start()
    for start in range(first, first + count, PARTS_PER_TRIGGER):
        seqs = range(start, min(start + PARTS_PER_TRIGGER, first + count))
        pub.enqueue("result", [{"id": uuid.uuid4().hex, "seq": s} for s in seqs])
        print(f"committed {seqs[-1]}", flush=True)
        time.sleep(TRIGGER_PERIOD_S)  # a line's pace, so a kill lands mid-run
    while not pub.wait_drained(1.0):
        pass
    print("drained", flush=True)
    threading.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    main()
