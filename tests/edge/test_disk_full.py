"""A full disk on a real 3 MB filesystem: no result lost on its way to the broker, every loss counted and
alerted. NG evidence gives way first, then old JSONL; the MQTT outbox never gives way.

The broker hangs (SIGSTOP) while the disk fills, so every result waits in the outbox on the small disk;
then it resumes and the subscriber must receive every result once.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.config import load_config
from edge.disk_reserve import disk_reserve
from edge.sinks.base import SinkPolicy, SinkWorker
from edge.sinks.jsonl import JsonlSink
from edge.sinks.mqtt import build_mqtt_sink
from edge.sinks.ng_store import build_ng_store_sink
from edge.verdict import Decision, ErrorCode, Evidence, Verdict
from tests.mosquitto import MosquittoBroker, Subscriber
from tests.waiting import wait_until

TRIGGERS, CAVITIES = 120, 4
DISK_MB, BALLAST_MB = 3, 1  # "another program" holds 1 MB of the 3


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(disk)],
                           capture_output=True, text=True, check=False)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a {DISK_MB} MB tmpfs ({mount.stderr.strip()}): needs root / CAP_SYS_ADMIN")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def station_yaml(folder: Path, disk: Path, port: int) -> Path:
    (folder / "model.onnx").write_bytes(b"not loaded here")
    path = folder / "station.yaml"
    path.write_text(f"""\
station: {{site: plant1, line: line3, name: press07}}
source: {{kind: file, uri: footage.avi, mode: triggered}}
model: {{path: model.onnx}}
mqtt: {{host: 127.0.0.1, port: {port}, outbox: {disk}/outbox.sqlite, status_interval_s: 0.1}}
storage: {{ng_dir: {disk}/ng, quota_mb: 100, min_free_mb: 0.5, warn_free_mb: 1.5}}
alerts: {{language: en, ng_streak: null}}
""", encoding="utf-8")
    return path


def trigger(shot: int) -> tuple[Verdict, ...]:
    """Four cavities, cavity 2 NG with a noise crop (does not compress: ~25 kB of evidence per part)."""
    crop = np.random.default_rng(shot).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    verdicts = []
    for c in range(1, CAVITIES + 1):
        ng = c == 2
        v = Verdict(shot, shot * 10 + c, shot, c, shot, Decision.NG if ng else Decision.OK,
                    "short_shot" if ng else None, 0.9 if ng else 0.1, ErrorCode.NONE, {"total": 9.0},
                    0.0, 0.0)
        if ng:
            v.evidence = Evidence(crop, None, (0, 0, 64, 64))
        verdicts.append(v)
    return tuple(verdicts)


def _feed(workers: list[SinkWorker], shots: range) -> None:
    for shot in shots:
        for w in workers:
            w.offer(trigger(shot))
    total = shots.stop * CAVITIES
    wait_until(lambda: all((s := w.stats()).delivered + s.skipped + s.errors == total for w in workers),
               "every sink handled every verdict")


def test_full_disk_loses_no_result_and_counts_and_alerts_every_loss(
        small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    broker = MosquittoBroker(tmp_path / "broker")
    broker.start()
    sub = Subscriber(broker.port, "plant1/line3/press07/#")
    config = load_config(station_yaml(tmp_path, small_disk, broker.port))
    assert config.storage is not None
    reserve = disk_reserve(config)
    assert reserve is not None
    mqtt = build_mqtt_sink(config, disk=reserve)
    assert mqtt is not None
    jsonl = JsonlSink(small_disk / "results.jsonl", reserve=reserve, rotate_mb=0.05)
    workers = [SinkWorker(s, SinkPolicy.BLOCK) for s in (build_ng_store_sink(config.storage, reserve), jsonl,
                                                          mqtt)]
    try:
        assert sub.wait_for(lambda s: s.subscriptions >= 1, 30)
        (small_disk / "ballast.bin").write_bytes(b"\0" * BALLAST_MB * 1024 * 1024)
        for w in workers:
            w.start()
        assert mqtt.publisher.wait_connected(30)
        broker.pause()  # hangs: nothing acknowledged, every result stays in the outbox on the small disk
        _feed(workers, range(TRIGGERS // 2))  # the reserve holds: evidence is skipped, results kept
        assert reserve.state().low, "DISK_LOW territory before the disk is full"
        # Another program takes all but 0.2 MB, under the reserve: the outbox asks, the others give way.
        (small_disk / "ballast2.bin").write_bytes(b"\0" * (reserve.free() - 200 * 1024))
        _feed(workers, range(TRIGGERS // 2, TRIGGERS))
        broker.resume()
        total = TRIGGERS * CAVITIES
        assert sub.wait_for(lambda s: len({r["id"] for r in s.json("result")}) == total, 60), \
            "every result reached the broker"
        ng, lines, _ = (w.stats() for w in workers)
        assert ng.skipped > 0 and ng.errors == 0 and lines.errors == 0
        assert workers[0].sink.store.stats().given_up > 0, "evidence gave way to the outbox"  # type: ignore
        assert mqtt.publisher.stats().lost == 0
        state = reserve.state()
        assert state.lost["ng_store"] >= ng.skipped and state.lost["jsonl"] >= lines.skipped
        on_disk = sum(len(p.read_text().splitlines()) for p in small_disk.glob("results*.jsonl"))
        assert on_disk + state.lost["jsonl"] == total, "every JSONL line written or counted as lost"
        wait_until(lambda: any(a["code"] == "DISK_LOW" for a in sub.json("alert")), "the DISK_LOW alert", 30)
        (alert,) = [a for a in sub.json("alert") if a["code"] == "DISK_LOW" and a["type"] == "new"]
        assert alert["severity"] == "critical" and "MB free" in str(alert["message"])
    finally:
        for w in workers:
            w.close()
    try:  # the sink's last status, sent on close, tells the losses too (it bypasses the outbox)
        assert sub.wait_for(lambda s: (json.loads(s.texts("status")[-1])["disk"]["lost"].get("ng_store", 0)
                                       > 0), 30)
        assert json.loads(sub.texts("status")[-1])["disk"]["lost"]["mqtt_outbox"] == 0
    finally:
        sub.close()
        broker.kill()
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
