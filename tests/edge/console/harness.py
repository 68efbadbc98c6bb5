"""A replay with the console on, run in a thread, and a real headless Chromium to look at it.

`ConsoleRun` replays simulator footage at the camera's pace with `console.port: 0` (a free port), keeps
the station (and so the console) up after the footage ends until the test is done, and hands the test
the station and the console's URL. `chromium()` drives Debian's chromium through chromedriver; the
tests skip with the reason when those packages are absent.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import load_config
from edge.replay import ReplayResult, replay
from edge.sinks.memory import MemorySink
from edge.station import Station
from sim.footage import FootageSettings, write_footage
from tests.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENS_ENV = "MOLDPILOT_CONSOLE_SCREENS"  # set: screenshots are also kept under var/console-screens/
STARTUP_S = 90.0  # model load and warm-up on a loaded 2-core machine


class ConsoleRun:
    """`moldpilot replay FOOTAGE --every-frame --speed realtime` with a console, in a thread."""

    def __init__(self, folder: Path, model: Path, *, shots: int = 12, console: dict[str, Any] | None = None,
                 threshold: float | None = None, defect_rate: float = 0.3,
                 sections: dict[str, Any] | None = None, every_frame: bool = True,
                 speed: str = "realtime", footage: FootageSettings | None = None) -> None:
        """`sections`: more station.yaml sections (`review:`, `shadow:`, `registry:`, ...), as they would
        be written there; `every_frame=False` judges the timeline's triggers only (one verdict per part),
        `speed="max"` as fast as the model goes; `footage` replaces the default recording (`shots`,
        `defect_rate`)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.footage = folder / "line.avi"
        settings = footage or FootageSettings(shots=shots, seed=1919, cavities=4, defect_rate=defect_rate)
        self.timeline = write_footage(self.footage, settings)
        doc: dict[str, Any] = {
            "station": {"site": "test", "line": "l1", "name": "p1"},
            "source": {"kind": "file", "uri": str(self.footage), "mode": "replay"},
            "model": {"path": str(model), **({"threshold": threshold} if threshold is not None else {})},
            "cavities": [{"id": i + 1, "roi": list(roi)} for i, roi in enumerate(self.timeline.rois_xywh)],
            "storage": {"ng_dir": str(folder / "ng"), "quota_mb": 50},
            "console": {"port": 0, **(console or {})},
            **(sections or {}),
        }
        self.every_frame, self.speed = every_frame, speed
        self.config_path = folder / "station.yaml"
        self.config_path.write_text("# the test's station\n" + yaml.safe_dump(doc, sort_keys=False))
        self.memory = MemorySink("test", evidence_limit=100_000)
        self.station: Station | None = None
        self.result: ReplayResult | None = None
        self.error: BaseException | None = None
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-replay", daemon=True)

    def _run(self) -> None:
        try:
            self.result = replay(self.footage, load_config(self.config_path), self.timeline,
                                 every_frame=self.every_frame, speed=self.speed,  # type: ignore[arg-type]
                                 sinks=[self.memory], progress=False,
                                 watch=self._watch, hold=lambda _: self._release.wait())
        except BaseException as exc:  # handed to the test, which fails with it
            self.error = exc

    def _watch(self, station: Station) -> None:
        self.station = station

    def start(self) -> ConsoleRun:
        self._thread.start()
        wait_until(lambda: self.error is not None or self.station is not None, "the replay station to start",
                   STARTUP_S)
        if self.error is not None:
            raise self.error
        return self

    @property
    def url(self) -> str:
        assert self.station is not None and self.station.console is not None
        return self.station.console.url.rstrip("/")

    def close(self) -> None:
        if self.station is not None:
            self.station.stop()
        self._release.set()
        self._thread.join(60)


def chromium_missing() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        return (f"needs Debian's chromium and chromium-driver ({', '.join(missing)} absent; "
                "make test installs them)")
    return None


def chromium() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    class Chromium(webdriver.Chrome):
        """get() returns once the new document has loaded. Chromedriver's own get() can return while
        the old page is still current (seen in CI, after pages that poll), so a read straight after
        it may find the old page or none. The old document is marked first, and get() waits until a
        document without the mark (the new one, or the page a redirect led to) is complete."""

        def get(self, url: str) -> None:
            self.execute_script("window.__moldpilotLeaving = true;")
            super().get(url)
            loaded = "return !window.__moldpilotLeaving && document.readyState === 'complete';"
            wait_until(lambda: self.execute_script(loaded), f"the page {url}")

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--disable-gpu", "--lang=en-US"):
        options.add_argument(arg)
    driver = Chromium(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def page_text(driver: Any) -> str:
    """The page's visible text, read in one script once the page has a body: straight after a
    navigation Chromium may not have one yet, and an element found then may go stale."""
    return wait_until(lambda: driver.execute_script("return document.body ? document.body.innerText : ''"),
                      "a page with a body")


def screenshot_saver(folder: Path) -> Callable[[Any, str], Path]:
    """save(driver, name): a PNG of the page in `folder`, and under var/console-screens/ when
    $MOLDPILOT_CONSOLE_SCREENS is set (for the README and a person's look)."""
    keep = Path("var/console-screens") if os.environ.get(SCREENS_ENV) else None

    def save(driver: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        driver.save_screenshot(str(path))
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, keep / path.name)
        return path

    return save


def skip_without_chromium() -> None:
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
