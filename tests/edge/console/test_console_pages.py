"""The station panel and the NG gallery in a real browser, and the live view's camera-lost picture."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from selenium.webdriver.common.by import By

from edge.console.live import encode_frame, live_state
from edge.frame import Frame
from tests.edge.console.harness import ConsoleRun
from tests.waiting import wait_until


def test_the_panel_shows_counters_states_and_the_ng_rate_chart(
        console_run: Callable[..., ConsoleRun], browser: Any, screenshot: Callable[[Any, str], Any]) -> None:
    run = console_run(shots=20, threshold=0.0)
    browser.get(run.url + "/panel")
    counters = wait_until(lambda: browser.execute_script(
        "return [...document.querySelectorAll('#counters tr')].map(r => r.cells[1].textContent);"),
        "the counters")
    wait_until(lambda: int(browser.execute_script(
        "return document.querySelector('#counters tr').cells[1].textContent;")) > int(counters[0]),
        "the parts counter to grow as the replay goes on")
    model = browser.find_element(By.ID, "model").text
    assert "tiny_defect" in model and "CPUExecutionProvider" in model
    wait_until(lambda: browser.execute_script("return document.getElementById('chart').naturalWidth;") == 520,
               "the NG-rate chart")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#ng-table tr"), "the NG count per cavity")
    assert browser.find_element(By.ID, "stale").get_attribute("hidden") is not None
    screenshot(browser, "panel")


def test_the_gallery_lists_ng_parts_filters_and_enlarges(
        console_run: Callable[..., ConsoleRun], browser: Any, screenshot: Callable[[Any, str], Any]) -> None:
    run = console_run(shots=20, threshold=0.0)
    store = run.config_path.parent / "ng"
    wait_until(lambda: len(list(store.glob("*/*.json"))) >= 8, "NG parts in the store")
    browser.get(run.url + "/gallery")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#parts figure"), "the gallery's parts")
    screenshot(browser, "gallery")
    browser.find_element(By.ID, "f-cavity").send_keys("2")
    browser.find_element(By.CSS_SELECTOR, "#filters button").click()
    wait_until(lambda: (c := browser.execute_script(
        "return [...document.querySelectorAll('#parts figure')].map(f => f.dataset.cavity);"))
        and set(c) == {"2"}, "only cavity 2 after filtering")
    browser.find_element(By.CSS_SELECTOR, "#parts figure").click()
    modal = browser.find_element(By.ID, "enlarged")
    wait_until(lambda: modal.is_displayed(), "the enlarged part")
    wait_until(lambda: browser.execute_script(
        "return document.getElementById('big-crop').naturalWidth;") == 160, "the crop, full size")
    record = browser.find_element(By.ID, "big-json").text
    assert '"decision": "NG"' in record and '"cavity": 2' in record
    screenshot(browser, "gallery-enlarged")


@dataclass
class _View:  # the fields of StationView that the live view reads
    t_s: float
    latest_frame: Frame
    latest_verdicts: dict[int, Any]
    camera: dict[str, Any]
    cavities: dict[int, Any]


def test_a_lost_camera_shows_the_last_good_frame_greyed_with_its_time() -> None:
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, :, 2] = 200  # red
    taken_s = time.monotonic() - 5.0
    view = _View(time.monotonic(), Frame(image, 7, taken_s), {}, {"state": "lost", "recoveries": 2},
                 {1: (0, 0, 40, 30)})
    state = live_state(view)
    assert state["camera"]["lost"] is True and state["frame_id"] == 7
    assert abs(state["frame_time_s"] - (time.time() - 5.0)) < 0.5
    jpeg = encode_frame(view, heatmap=False, lost=True)
    shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    b, g, r = (float(shown[:, :, c].mean()) for c in range(3))
    assert abs(r - g) < 8 and abs(r - b) < 8 and r < 0.6 * 200  # grey and dimmed
    assert image[:, :, 2].min() == 200  # the frame itself was not touched
