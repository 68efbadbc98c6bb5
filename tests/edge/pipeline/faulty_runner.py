"""A real ModelRunner with fault injection, for the pipeline's and the shadow's tests."""

from __future__ import annotations

import sys
import threading
from collections.abc import Container

import numpy as np

from edge.pipeline.runner import ModelRunner

WAIT_S = 30.0
EVERY_CALL = range(1, sys.maxsize)  # fail_calls that make every infer raise


class FaultyRunner:
    """`fail_calls` (1-based infer calls) raise, and `gate` (if set) holds every infer call until it is
    opened."""

    def __init__(self, runner: ModelRunner, fail_calls: Container[int] = (),
                 gate: threading.Event | None = None) -> None:
        self.runner, self.fail_calls, self.gate, self.calls = runner, fail_calls, gate, 0
        self.max_batch = runner.max_batch
        self.card = runner.card

    def preprocess_into(self, slot: int, image: np.ndarray, roi_xywh=None) -> None:
        self.runner.preprocess_into(slot, image, roi_xywh)

    def infer(self, n: int):
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(WAIT_S), "test gate never opened"
        if self.calls in self.fail_calls:
            raise RuntimeError("injected model fault")
        return self.runner.infer(n)

    def lane(self) -> FaultyRunner:
        return self

    def close(self) -> None:
        self.runner.close()
