"""Promote and roll back on a running station, under `replay --speed realtime` of simulator footage
with the shipped model (models/default/) and a second real version of it (the same
graph, a card with another threshold), a real Mosquitto for the alerts and the status.

What it shows (issue 21): every trigger gets exactly one verdict per cavity; every verdict names the
version that judged it; the cavities of one trigger are never judged by a mix of versions; and every
trigger captured after a promote (or rollback) returned is judged by the version it put in place."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import onnx
import yaml

from edge.commands.replay_cmd import default_model
from edge.config import load_config
from edge.replay import ReplayResult, replay
from edge.station import Station
from models.card import read_card, save_model
from sim.footage import FootageSettings, write_footage
from tests.mosquitto import MosquittoBroker, Subscriber
from tests.waiting import wait_until

SHIPPED = default_model()
SHOTS, CAVITIES = 40, 4
STARTUP_S = 120.0


def threshold_copy(folder: Path, threshold: float) -> Path:
    """The shipped model with another decision threshold in its card: a second, real version."""
    model = onnx.load(str(SHIPPED))
    shipped = read_card(SHIPPED)
    card = shipped.model_copy(update={"threshold": threshold, "name": f"{shipped.name}_strict"})
    path = folder / "strict.onnx"
    save_model(model, card, path)
    return path


def test_promote_and_rollback_while_a_realtime_replay_runs(tmp_path: Path,
                                                           mosquitto: MosquittoBroker) -> None:
    footage = tmp_path / "line.avi"
    timeline = write_footage(footage, FootageSettings(shots=SHOTS, seed=21, cavities=CAVITIES, fps=10,
                                                      cycle_s=0.6, cell_px=96, defect_rate=0.3))
    doc = {"station": {"site": "p", "line": "l1", "name": "s1"},
           "source": {"kind": "file", "uri": str(footage), "mode": "replay"},
           "model": {"path": str(SHIPPED)},
           "registry": {"path": str(tmp_path / "reg")},  # empty: the station adds its model as v1
           "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "outbox": str(tmp_path / "outbox.sqlite")},
           "alerts": {"language": "en"}}
    config_path = tmp_path / "station.yaml"
    config_path.write_text(yaml.safe_dump(doc))
    sub = Subscriber(mosquitto.port, "p/l1/s1/#")
    try:
        assert sub.wait_for(lambda s: s.subscriptions >= 1, 60)
        _run_and_check(footage, config_path, timeline, sub)
    finally:
        sub.close()


def _run_and_check(footage: Path, config_path: Path, timeline: Any, sub: Subscriber) -> None:
    tmp_path = config_path.parent
    got: dict[str, Any] = {}

    def run() -> None:
        try:
            got["result"] = replay(footage, load_config(config_path), timeline, speed="realtime",
                                   progress=False, watch=lambda s: got.setdefault("station", s))
        except BaseException as exc:  # handed to the test
            got["error"] = exc

    thread = threading.Thread(target=run, name="test-replay", daemon=True)
    thread.start()
    wait_until(lambda: "station" in got or "error" in got, "the replay station to start", STARTUP_S)
    assert "error" not in got, got.get("error")
    station: Station = got["station"]
    assert station.model_version == "v1" and station.registry is not None
    assert station.registry.add(threshold_copy(tmp_path, 0.9), "jun").version == "v2"

    switches: list[tuple[float, float, str]] = []  # (asked, returned, version judging after)
    steps = [("promote", "v2"), ("rollback", "v1"), ("promote", "v2"), ("rollback", "v1"), ("promote", "v2")]
    for action, version in steps:
        if station.pipeline.done.is_set():
            break
        seen = station.pipeline.snapshot()["triggers"]
        wait_until(lambda seen=seen: station.pipeline.snapshot()["triggers"] >= seen + 2
                   or station.pipeline.done.is_set(), "two more shots judged", 60)
        asked = time.monotonic()
        done = station.promote(version, "jun") if action == "promote" else station.rollback("mina")
        switches.append((asked, time.monotonic(), done.version))
        assert done.version == version and station.model_version == version
    thread.join(STARTUP_S)
    assert not thread.is_alive() and "error" not in got, got.get("error")
    result: ReplayResult = got["result"]
    assert len(switches) >= 3, "the footage ended before promote, rollback and promote had run"

    verdicts = result.verdicts
    assert sorted((v.shot, v.cavity) for v in verdicts) == [(s, c) for s in range(1, SHOTS + 1)
                                                             for c in range(1, CAVITIES + 1)]
    assert all(v.model_version in ("v1", "v2") for v in verdicts)
    by_shot: dict[int | None, set[str | None]] = {}
    for v in verdicts:
        by_shot.setdefault(v.shot, set()).add(v.model_version)
    assert all(len(versions) == 1 for versions in by_shot.values()), "a trigger judged by a mix"
    for i, (_, returned, version) in enumerate(switches):
        until = switches[i + 1][0] if i + 1 < len(switches) else float("inf")
        after = [v for v in verdicts if returned < v.t_trigger_s < until]
        assert all(v.model_version == version for v in after), (i, version, [v.model_version for v in after])
    assert {v.model_version for v in verdicts} == {"v1", "v2"}
    assert result.summary["drops"] == 0

    # The MQTT side: one alert per switch, the result messages and the status name the version.
    assert sub.wait_for(lambda s: len([a for a in s.json("alert") if a["code"].startswith("MODEL_")])
                        >= len(switches), 60)
    alerts = [a for a in sub.json("alert") if a["code"].startswith("MODEL_")]
    assert [(a["code"], a["message"]) for a in alerts][:2] == [
        ("MODEL_PROMOTED", "model v2 promoted by jun: it judges from now on"),
        ("MODEL_ROLLED_BACK", "model rolled back to v1 by mina: it judges from now on")]
    assert {r["model_version"] for r in sub.json("result")} == {"v1", "v2"}
    assert sub.json("status")[-1]["model_version"] == switches[-1][2]
    history = station.registry.history()
    assert [h["action"] for h in history][:3] == ["added", "promoted", "added"]
    assert history[1]["who"] == "station"
    assert [h["version"] for h in history if h["action"] in ("promoted", "rolled_back")][1:] == \
        [version for _, _, version in switches]
