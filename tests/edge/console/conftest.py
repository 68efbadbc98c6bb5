"""Fixtures of the console tests: one headless Chromium for the module's tests (cookies cleared per
test), a console replay factory, and the screenshot folder (the test's tmp_path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.edge.console.harness import ConsoleRun, chromium, chromium_missing, screenshot_saver
from tests.edge.teach.teach_parts import bezel_clip, bezel_train  # noqa: F401  (the teach page's test)


@pytest.fixture(scope="module")
def _driver() -> Iterator[Any]:
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def browser(_driver: Any) -> Any:
    _driver.delete_all_cookies()
    return _driver


@pytest.fixture
def console_run(tmp_path: Path, tiny_model: Path) -> Iterator[Callable[..., ConsoleRun]]:
    runs: list[ConsoleRun] = []

    def start(**kwargs: Any) -> ConsoleRun:
        run = ConsoleRun(tmp_path / f"run{len(runs)}", tiny_model, **kwargs)
        runs.append(run)
        return run.start()

    yield start
    for run in runs:
        run.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Any, str], Path]:
    return screenshot_saver(tmp_path)
