"""The Prometheus endpoint during a replay, and the figures it shares with the MQTT status."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.commands.replay_cmd import default_config
from edge.config import StationConfig
from edge.metrics import StationMetrics
from edge.metrics.figures import link_up, station_figures
from edge.metrics.sink import MetricsSink
from edge.metrics.tally import Tally
from edge.replay import replay
from edge.sinks.mqtt import build_mqtt_sink
from edge.verdict import Decision, ErrorCode, Verdict
from sim.broker import free_port
from sim.footage import FootageSettings, write_footage
from sim.timeline import load_timeline
from tests.mosquitto import MosquittoBroker, Subscriber
from tests.waiting import wait_until

SHOTS, CAVITIES = 4, 4
# A pipeline snapshot of a station that has judged nothing yet (edge/pipeline/loop.py `snapshot`).
SNAPSHOT: dict[str, Any] = {"frames_in": 0, "frames_judged": 0, "frames_dropped": 0, "deadline_misses": 0,
                            "sinks": {}, "source_error": None}


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video = tmp_path_factory.mktemp("footage") / "line.avi"
    write_footage(video, FootageSettings(shots=SHOTS, seed=5, cavities=CAVITIES, fps=10, cycle_s=1.0,
                                         cell_px=96, defect_rate=0.5))
    return video


def scrape(port: int) -> dict[str, list[Any]]:
    """{sample name: [samples]} of one scrape; raises if the endpoint does not answer."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2.0) as response:
        text = response.read().decode()
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def try_scrape(port: int) -> dict[str, list[Any]] | None:
    try:
        return scrape(port)
    except OSError:
        return None


def total(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    return sum(s.value for s in samples.get(name, ()) if labels.items() <= s.labels.items())


def test_endpoint_answers_with_the_listed_series_during_a_replay(footage: Path, tiny_model: Path) -> None:
    port = free_port()
    results: list[Any] = []
    runner = threading.Thread(
        target=lambda: results.append(replay(footage, default_config(footage, str(tiny_model)),
                                             load_timeline(footage), speed="realtime", progress=False,
                                             metrics_port=port)),
        name="test-replay")
    runner.start()
    try:
        # Realtime pace: 4 shots of 1 s each, so the replay is still running after the first verdicts.
        seen: dict[str, dict[str, list[Any]]] = {}

        def judged_some() -> bool:
            samples = try_scrape(port)
            if samples and total(samples, "moldpilot_verdicts_total") > 0:
                seen["during"] = samples
                return True
            return False

        wait_until(judged_some, "a verdict counted on the endpoint", 30.0, poll_s=0.1)
        assert runner.is_alive(), "the replay ended before the scrape: the test would not be honest"
        during = seen["during"]
    finally:
        runner.join(60.0)
    assert not runner.is_alive() and results

    for name in ("moldpilot_verdicts_total", "moldpilot_stage_latency_seconds_bucket",
                 "moldpilot_stage_latency_seconds_count", "moldpilot_stage_latency_seconds_sum",
                 "moldpilot_frames_total", "moldpilot_sink_dropped_total", "moldpilot_sink_errors_total",
                 "moldpilot_deadline_misses_total", "moldpilot_camera_up", "moldpilot_model_info"):
        assert name in during, f"{name} missing from the endpoint"
    assert {s.labels["cavity"] for s in during["moldpilot_verdicts_total"]} <= {"1", "2", "3", "4"}
    assert {s.labels["decision"] for s in during["moldpilot_verdicts_total"]} <= {"OK", "NG", "NO_DECISION"}
    assert total(during, "moldpilot_verdicts_total") % CAVITIES == 0  # one per cavity of each shot
    assert total(during, "moldpilot_frames_total", state="in") >= total(during, "moldpilot_frames_total",
                                                                       state="judged") > 0
    assert total(during, "moldpilot_camera_up") == 1.0
    info = during["moldpilot_model_info"][0].labels
    assert info == {"name": "tiny_defect", "provider": "CPUExecutionProvider"}
    stages = {s.labels["stage"] for s in during["moldpilot_stage_latency_seconds_count"]}
    assert {"preprocess", "infer", "judge", "total"} <= stages
    infer_count = total(during, "moldpilot_stage_latency_seconds_count", stage="infer")
    inf_bucket = total(during, "moldpilot_stage_latency_seconds_bucket", stage="infer", le="+Inf")
    assert infer_count == inf_bucket > 0
    # The endpoint lives as long as the replay: closed with it, the port is free again.
    assert try_scrape(port) is None
    summary = results[0].summary
    assert summary["parts"] == SHOTS * CAVITIES


def test_run_serves_the_endpoint_from_station_yaml(tiny_model: Path, tmp_path: Path) -> None:
    """`moldpilot run` with a `metrics:` section: scraped while it runs, on software triggers."""
    port = free_port()
    config = tmp_path / "station.yaml"
    config.write_text(
        "station: {site: s, line: l, name: press1}\n"
        "source: {kind: sim, uri: 'seed=2,shots=5,cavities=2', mode: triggered}\n"
        f"model: {{path: {tiny_model}}}\n"
        f"metrics: {{port: {port}}}\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "-c", str(config), "--stdin-triggers"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: try_scrape(port) is not None or proc.poll() is not None, "the endpoint", 60.0)
        assert proc.stdin is not None
        proc.stdin.write("101\n102\n103\n")
        proc.stdin.flush()
        wait_until(lambda: total(try_scrape(port) or {}, "moldpilot_verdicts_total") == 6, "6 verdicts", 60.0)
        samples = scrape(port)
        assert total(samples, "moldpilot_sink_dropped_total", sink="metrics") == 0
        assert total(samples, "moldpilot_camera_up") == 1.0 and "moldpilot_plc_link_up" not in samples
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["sinks"]["metrics"]["delivered"] == 6


def test_figures_are_one_dict_for_status_and_endpoint() -> None:
    """The MQTT status embeds `figures()`; the collector renders the same dict: one source."""
    link = _Link({"port_connected": True, "fault": "PLC heartbeat lost"})

    def figures() -> dict[str, Any]:
        return station_figures(Tally(), SNAPSHOT, None, link, None, {"name": "m", "provider": "cpu"})

    metrics = StationMetrics("127.0.0.1", 0, figures)
    assert figures()["plc_link_up"] is False and figures()["mqtt"] is None
    metrics.start()
    try:
        samples = scrape(metrics.port)
    finally:
        metrics.close()
    assert total(samples, "moldpilot_plc_link_up") == 0.0
    assert "moldpilot_mqtt_connected" not in samples  # no broker configured: not known, so not shown


def test_the_shadow_candidates_agreement_is_a_figure_and_a_series_while_it_runs() -> None:
    """The shadow's view (edge/pipeline/shadow.py `Shadow.view`) in the figures and the scrape; its
    label agreement stays out of the scrape until some part is labelled (not known, not shown)."""
    view = {"name": "cand", "version": "v3", "running": True, "parts_offered": 40, "parts_judged": 36,
            "dropped": 4, "skipped": 0, "errors": 0, "window_parts": 200, "in_window": 36, "compared": 36,
            "agreement_active": 0.9444, "labelled": 0, "agreement_labels": None,
            "active_agreement_labels": None, "disagreements": [{"part_id": 7}]}

    def figures() -> dict[str, Any]:
        return station_figures(Tally(), SNAPSHOT, None, None, None, {"name": "m", "provider": "cpu"}, view)

    assert figures()["shadow"]["agreement_active"] == 0.9444 and "disagreements" not in figures()["shadow"]
    off = station_figures(Tally(), SNAPSHOT, None, None, None, {"name": "m", "provider": "cpu"})
    assert off["shadow"] is None
    metrics = StationMetrics("127.0.0.1", 0, figures)
    metrics.start()
    try:
        samples = scrape(metrics.port)
    finally:
        metrics.close()
    assert total(samples, "moldpilot_shadow_parts_total", state="judged") == 36
    assert total(samples, "moldpilot_shadow_parts_total", state="dropped") == 4
    assert total(samples, "moldpilot_shadow_agreement_active") == 0.9444
    assert "moldpilot_shadow_agreement_labels" not in samples


def test_mqtt_status_carries_the_figures_the_endpoint_shows(mosquitto: MosquittoBroker,
                                                             tmp_path: Path) -> None:
    config = StationConfig.model_validate({
        "station": {"site": "p", "line": "l", "name": "s"},
        "source": {"kind": "sim", "uri": "1"},
        "model": {"path": str(Path(__file__))},  # not loaded here
        "mqtt": {"port": mosquitto.port, "outbox": str(tmp_path / "outbox.sqlite")},
    })
    tally = Tally()

    def figures() -> dict[str, Any]:
        return station_figures(tally, SNAPSHOT, None, None, sink.publisher, {"name": "m", "provider": "cpu"})

    metrics = StationMetrics("127.0.0.1", 0, figures)
    sink = build_mqtt_sink(config, "tiny_defect", figures=figures)
    assert sink is not None
    shot = [Verdict(1, 100 + c, 1, c, 1, Decision.NG if c == 2 else Decision.OK, "flash" if c == 2 else None,
                    0.9 if c == 2 else 0.1, ErrorCode.NONE, {"infer": 3.0, "total": 7.0}, 0.0, 0.0)
            for c in (1, 2)]
    MetricsSink(tally).write(shot)
    sub = Subscriber(mosquitto.port, "p/l/s/status")
    metrics.start()
    try:
        assert sub.wait_for(lambda s: s.subscriptions >= 1, 30.0)
        sink.open()
        assert sub.wait_for(lambda s: any("figures" in d for d in s.json("status")), 30.0)
        samples = scrape(metrics.port)
        sink.close()
        assert total(scrape(metrics.port), "moldpilot_verdicts_total") == 2  # still answers, sink closed
    finally:
        metrics.close()
        sub.close()
    figures = [d for d in sub.json("status") if "figures" in d][-1]["figures"]
    assert figures["verdicts"] == {"NG": {"2": 1}, "OK": {"1": 1}}
    assert figures["defects"] == {"flash": {"2": 1}}
    assert figures["latency"]["stages"]["infer"]["count"] == 1
    assert total(samples, "moldpilot_verdicts_total", decision="NG", cavity="2") == 1
    assert total(samples, "moldpilot_defects_total", defect="flash", cavity="2") == 1
    assert total(samples, "moldpilot_stage_latency_seconds_count", stage="infer") == 1
    assert total(samples, "moldpilot_mqtt_backlog") == figures["mqtt"]["backlog"]


def test_link_up_reads_both_link_kinds() -> None:
    assert link_up({"protocol": "modbus-rtu", "port_connected": True, "fault": None})
    assert not link_up({"protocol": "modbus-rtu", "port_connected": False, "fault": None})
    assert not link_up({"protocol": "ascii", "port_connected": True, "peer_lost": True})


class _Link:
    def __init__(self, status: dict[str, object]) -> None:
        self._status = status

    def status(self) -> dict[str, object]:
        return self._status
