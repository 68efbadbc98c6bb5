"""The one wait of the test suite: poll a condition that another thread or process makes true.

Tests never sleep on luck: they wait for a condition, with a timeout generous enough for a loaded
2-core machine, and fail with a message that says what did not happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

WAIT_S = 30.0


def wait_until(condition: Callable[[], T], what: str = "condition", timeout_s: float = WAIT_S,
               poll_s: float = 0.02) -> T:
    """The first truthy value of `condition()`; an AssertionError naming `what` after `timeout_s`."""
    deadline_s = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline_s, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(poll_s)
    return value


def text_of(path: Path) -> str:
    """A file another process is writing, or "" while it does not exist yet."""
    return path.read_text() if path.exists() else ""
