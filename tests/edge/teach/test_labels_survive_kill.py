"""Labels survive a SIGKILL of the station: `moldpilot replay --console` runs as a child process over
simulator footage with a `review:` section; parts are labelled through the console's HTTP API (CSRF
token and session as a browser has them) while the process is killed with SIGKILL in the middle of
the labelling; a restarted station shows every label it answered, each filed exactly once, and a label
cut off by the kill either filed whole or not at all."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from edge.teach.labels import read_labels
from sim.footage import FootageSettings, write_footage
from tests.waiting import wait_until

STARTUP_S = 120.0  # interpreter, model load and the replay itself on a loaded 2-core machine


class Station:
    """One `moldpilot replay FOOTAGE --config station.yaml --console` child and a browser-like client."""

    def __init__(self, config: Path, footage: Path, log: Path) -> None:
        self._log = open(log, "ab")  # noqa: SIM115 (closed in kill)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "replay", str(footage), "--config", str(config), "--console"],
            stdout=self._log, stderr=subprocess.PIPE, cwd=config.parent)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        found = wait_until(lambda: self._url() or self.process.poll() is not None, "the console's URL",
                           STARTUP_S)
        assert isinstance(found, str), f"the station ended early: {self.lines[-5:]}"
        self.url = found
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(cookies)
        page = self.opener.open(self.url + "/review", timeout=30).read().decode()
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self.lines.append(raw.decode(errors="replace"))

    def _url(self) -> str | None:
        for line in self.lines:
            if line.startswith("console: "):
                return line.split(" ", 1)[1].strip().rstrip("/")
        return None

    def parts(self) -> dict[str, Any]:
        return json.loads(self.opener.open(self.url + "/api/review/parts?limit=50", timeout=30).read())

    def label(self, item: str, answer: str) -> dict[str, Any]:
        request = urllib.request.Request(self.url + "/api/review/label", method="POST",
                                         data=json.dumps({"item": item, "answer": answer}).encode(),
                                         headers={"content-type": "application/json",
                                                  "x-csrf-token": self.csrf})
        return json.loads(self.opener.open(request, timeout=30).read())

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self._log.close()


def _answer(part: dict[str, Any]) -> str:
    return "right" if part["decision"] == "NG" else "ok"


def _dataset_files(dataset: Path) -> Counter[str]:
    """Item id -> how many crops of it the dataset holds (over all class folders)."""
    return Counter(p.stem for p in dataset.glob("*/*.png"))


def test_labels_answered_before_a_sigkill_are_all_there_once_after_the_restart(
        tiny_model: Path, tmp_path: Path) -> None:
    footage = tmp_path / "line.avi"
    write_footage(footage, FootageSettings(shots=20, seed=5, cavities=4, fps=10, cycle_s=1.0, cell_px=96,
                                           defect_rate=0.3))
    dataset = tmp_path / "dataset"
    config = tmp_path / "station.yaml"
    config.write_text(yaml.safe_dump({
        "station": {"site": "t", "line": "l1", "name": "p1"},
        "source": {"kind": "file", "uri": str(footage), "mode": "replay"},
        "model": {"path": str(tiny_model)},
        "storage": {"ng_dir": str(tmp_path / "ng"), "quota_mb": 50},
        "console": {"port": 0},
        "review": {"folder": str(tmp_path / "review"), "dataset": str(dataset), "ok_sample": 0.5},
    }))
    first = Station(config, footage, tmp_path / "first.log")
    try:
        listing = wait_until(lambda: (p := first.parts())["counts"]["waiting"] >= 30 and p,
                             "30 parts in the review queue", STARTUP_S)
        answered: dict[str, str] = {}
        for part in listing["parts"][:12]:
            row = first.label(part["id"], _answer(part))["row"]
            answered[part["id"]] = row["label"]
        # More labels from another thread, killed in the middle of them.
        rest = [p for p in listing["parts"] if p["id"] not in answered]
        in_flight: list[str] = []
        killed = threading.Event()
        failures: list[BaseException] = []  # an error before the kill is the test's failure, not the kill's

        def keep_labelling() -> None:
            for part in rest:
                in_flight.append(part["id"])
                try:
                    answered[part["id"]] = first.label(part["id"], _answer(part))["row"]["label"]
                except (urllib.error.URLError, ConnectionError, OSError) as exc:
                    if not killed.is_set():
                        failures.append(exc)
                    return

        worker = threading.Thread(target=keep_labelling, daemon=True)
        worker.start()
        wait_until(lambda: len(answered) >= 16 or failures, "four labels from the second thread", STARTUP_S)
        assert not failures, f"labelling failed before the kill: {failures[0]!r}"
    finally:
        killed.set()
        first.kill()
    worker.join(30)
    assert len(answered) >= 16
    cut_off = [item for item in in_flight if item not in answered]  # sent, never answered
    print(f"\nSIGKILL after {len(answered)} answered labels, {len(cut_off)} request(s) cut off")

    second = Station(config, footage, tmp_path / "second.log")
    try:
        rows = read_labels(dataset)
        per_item = Counter(r["item"] for r in rows)
        files = _dataset_files(dataset)
        for item, label in answered.items():  # every answered label is there, once
            assert per_item[item] == 1, (item, per_item[item])
            assert files[item] == 1 and (dataset / label / f"{item}.png").is_file(), item
        for item in cut_off:  # filed whole (crop + row) or not at all
            assert per_item[item] == files[item] <= 1, item
        assert set(files) == set(per_item)  # no crop without its row, none with two
        assert not list(dataset.glob("*/.*.tmp"))
        waiting = {p["id"] for p in second.parts()["parts"]}
        assert not waiting & set(answered)  # a labelled part is not offered again
        assert second.parts()["counts"]["labelled"] == len(per_item)
        # The station labels on after the restart, and a retried label files nothing twice.
        item, label = next(iter(answered.items()))
        again = second.label(item, "right" if label != "ok" else "ok")["row"]
        assert again["label"] == label and len(read_labels(dataset)) == len(rows)
        fresh = next(p for p in second.parts()["parts"] if p["id"] not in answered)
        second.label(fresh["id"], _answer(fresh))
        assert len(read_labels(dataset)) == len(rows) + 1
    finally:
        second.kill()
