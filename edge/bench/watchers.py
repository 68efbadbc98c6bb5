"""Headless browsers watching the console's live view, for the console's cost in the benchmark.

Debian's chromium through chromium-driver (selenium, a dev dependency). The browsers are started
before the station, so the station is not measured while they boot; `watch(url)` points each at the
live view at `fps` frames per second (one of the page's rates); `pause()` and `resume()` freeze and
wake every page, as Chrome freezes a tab in the background (its timers stop: it asks for and draws
nothing); `close()` quits them all.

The browsers stand in for the screens of supervisors on other PCs and phones, so they run at the
lowest CPU priority (nice 19, inherited by every chromium process from its chromedriver): on a 2-core
bench machine three software-rendering Chromiums at normal priority take the cores the replay
measures, which is what a browser costs the PC it runs on, not what watching costs the station.
Run as root, Chromium raises its own processes' priority again (its browser process was seen at nice
-8), so a root bench starts them as the unprivileged user `nobody`, who cannot. `pictures_shown()`
says how many pictures each browser still drew.
"""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.console.live import RATES_FPS

if TYPE_CHECKING:  # selenium is a dev dependency: a station installed without it still runs `moldpilot`
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WATCH_FPS = max(RATES_FPS)  # the bench's worst case: the live view's highest rate
FIRST_FRAME_WAIT_S = 30.0
BROWSER_NICE = 19
UNPRIVILEGED = "nobody"


def _lower_priority(nice: int) -> None:
    """In the chromedriver child before it starts: nice (absolute: the bench may run the station below
    0, edge/bench/priority.py), and as root drop to `nobody` for good."""
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED)
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)


def process_tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds so far of these live processes and all their descendants, from /proc."""
    return trees_cpu_s([pids])[0]


def trees_cpu_s(trees: list[list[int]]) -> list[float]:
    """process_tree_cpu_s of each tree, from one read of /proc (a read takes milliseconds, and the
    bench's sampler reads the station's and the browsers' every quarter second)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    seconds = []
    for pids in trees:
        ticks, todo = 0, list(pids)
        while todo:
            pid = todo.pop()
            if stat := _stat(pid):
                ticks += int(stat[11]) + int(stat[12])  # utime, stime
            todo += children.get(pid, [])
        seconds.append(ticks / os.sysconf("SC_CLK_TCK"))
    return seconds


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (field 3 on: state, ppid, ...), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def missing() -> str | None:
    """Why browsers cannot watch here, or None."""
    absent = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        absent.append("selenium (pip install -e '.[dev]')")
    return f"needs {', '.join(absent)}" if absent else None


class Watchers:
    def __init__(self, count: int, nice: int = BROWSER_NICE) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.drivers: list[WebDriver] = []
        self._pictures_at_pause: list[int] | None = None
        for _ in range(count):
            options = webdriver.ChromeOptions()
            options.binary_location = CHROMIUM
            for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                        "--window-size=1280,1000"):
                options.add_argument(arg)
            service = Service(CHROMEDRIVER, popen_kw={"preexec_fn": lambda: _lower_priority(nice)},
                              env={**os.environ, "HOME": "/tmp"})
            self.drivers.append(webdriver.Chrome(service=service, options=options))

    def watch(self, url: str, fps: int = WATCH_FPS) -> None:
        """Open the live view in every browser at `fps` and wait until each shows a frame."""
        for driver in self.drivers:
            driver.get(url.rstrip("/") + "/live")
            driver.execute_script("const s = document.getElementById('fps'); s.value = arguments[0];"
                                  "s.dispatchEvent(new Event('change'));", str(fps))
        deadline_s = time.monotonic() + FIRST_FRAME_WAIT_S
        for driver in self.drivers:
            while driver.execute_script("return document.getElementById('frame-id').textContent;") == "–":
                if time.monotonic() > deadline_s:
                    raise RuntimeError("a watching browser showed no frame within "
                                       f"{FIRST_FRAME_WAIT_S:.0f} s")
                time.sleep(0.05)  # polling a page another process draws, bounded by the deadline

    def pause(self) -> None:
        """Freeze every live view (CDP Page.setWebLifecycleState): no requests, no drawing, almost no
        CPU, until resume(). A frozen page runs no script, so its pictures are counted first."""
        self._pictures_at_pause = self.pictures_shown()
        self._lifecycle("frozen")

    def resume(self) -> None:
        self._lifecycle("active")
        self._pictures_at_pause = None

    @property
    def paused(self) -> bool:
        return self._pictures_at_pause is not None

    def _lifecycle(self, state: str) -> None:
        for driver in self.drivers:
            driver.execute_cdp_cmd("Page.setWebLifecycleState", {"state": state})

    def frames_shown(self) -> list[Any]:
        return [d.execute_script("return document.getElementById('frame-id').textContent;")
                for d in self.drivers]

    def pictures_shown(self) -> list[int]:
        """How many pictures each browser has drawn since it opened the live view."""
        if self._pictures_at_pause is not None:
            return list(self._pictures_at_pause)
        return [int(d.execute_script("return document.getElementById('view').dataset.frames || 0;"))
                for d in self.drivers]

    def cpu_s(self) -> float:
        """CPU seconds (user + system) so far of every chromedriver and Chromium process of these
        browsers: they are alive, so getrusage's children figure does not hold them yet."""
        return process_tree_cpu_s(self.pids())

    def pids(self) -> list[int]:
        """The chromedriver of each browser: every Chromium process of it descends from one."""
        return [d.service.process.pid for d in self.drivers]

    def close(self) -> None:
        for driver in self.drivers:
            driver.quit()
