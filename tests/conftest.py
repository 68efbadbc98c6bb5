"""Shared fixtures. Others may add fixtures here; keep each one small and documented.

`tiny_model` / `tiny_model_factory`: the small but real ONNX defect model of tests/tiny_model.py,
saved with its card in tmp_path. `mosquitto` / `mosquitto_factory`: a real broker on a free port.
`cable` / `producer`: a real pty pair and the stand-in producer for the PLC links.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.card import ModelCard, save_model
from sim.pty_pair import PtyCable
from tests.mosquitto import MosquittoBroker
from tests.plc_bridge.plc_helpers import StandInProducer
from tests.tiny_model import build_tiny_graph, tiny_card


@pytest.fixture(autouse=True)
def _root_log_handlers() -> Iterator[None]:
    """Tests that call the CLI in-process run its setup_logging, which binds a handler to the
    sys.stderr pytest captured for that test; later tests' threads would log into the closed stream
    ("--- Logging error ---"). The root logger is put back as it was after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def tiny_model_factory(tmp_path: Path) -> Callable[..., Path]:
    """Build + save a tiny model with its card; kwargs go to build_tiny_graph. Returns the .onnx path.

    `card=` overrides the card (to describe the graph wrongly on purpose); `name=` the file stem.
    """

    def make(name: str = "tiny", card: ModelCard | None = None, **graph_kwargs: object) -> Path:
        model = build_tiny_graph(**graph_kwargs)  # type: ignore[arg-type]
        card_kwargs = {k: v for k, v in graph_kwargs.items() if k in ("n_classes", "size", "heatmap")}
        path = tmp_path / f"{name}.onnx"
        save_model(model, card or tiny_card(**card_kwargs), path)  # type: ignore[arg-type]
        return path

    return make


@pytest.fixture
def tiny_model(tiny_model_factory: Callable[..., Path]) -> Path:
    """Path to tiny.onnx (+ tiny.card.json): 4 classes, 64x64 BGR uint8 input, probs + heatmap."""
    return tiny_model_factory()


# ---- MQTT: a real Mosquitto per test (see tests/mosquitto.py) ----------------------------------------


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Start brokers (kwargs: users, acl, tls, require_client_cert) on free loopback ports; all killed at
    teardown. Each gets its own folder under tmp_path for its config, password file and log."""
    brokers: list[MosquittoBroker] = []

    def start(**kwargs: object) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"mosquitto{len(brokers)}", **kwargs)  # type: ignore[arg-type]
        brokers.append(broker)
        broker.start()
        return broker

    yield start
    for broker in brokers:
        broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """An anonymous Mosquitto on 127.0.0.1:<free port>."""
    return mosquitto_factory()


# ---- PLC links: a real pty cable and the stand-in producer (tests/plc_bridge/plc_helpers.py) ---------


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[PtyCable]:
    """A real pseudo-terminal pair, paced at 115200 baud."""
    with PtyCable(tmp_path / "tty", baudrate=115200) as c:
        yield c


@pytest.fixture
def producer() -> Iterator[StandInProducer]:
    p = StandInProducer()
    yield p
    p.close()
