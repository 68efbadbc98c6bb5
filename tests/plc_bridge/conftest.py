"""Fixtures for the PLC links: a real pty cable (paced at 115200 baud) and the stand-in producer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.pty_pair import PtyCable
from tests.plc_bridge.plc_helpers import StandInProducer


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[PtyCable]:
    with PtyCable(tmp_path / "tty", baudrate=115200) as c:
        yield c


@pytest.fixture
def producer() -> Iterator[StandInProducer]:
    p = StandInProducer()
    yield p
    p.close()
