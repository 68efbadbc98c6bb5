"""The ROI editor with real mouse events: drag a cavity's box, save, and the next verdicts use the new
crop; station.yaml is rewritten (its comment kept) with the previous version beside it; bad layouts
are refused with the reason on the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from edge.console.i18n import CATALOGUE
from tests.edge.console.harness import ConsoleRun
from tests.waiting import wait_until

EN = CATALOGUE["en"]


def _open_editor(browser: Any, run: ConsoleRun) -> Any:
    browser.get(run.url + "/rois")
    canvas = browser.find_element(By.ID, "editor")
    wait_until(lambda: canvas.get_attribute("data-ready") == "yes", "the ROI editor with its snapshot")
    return canvas


def _drag(browser: Any, canvas: Any, from_xy: tuple[int, int], by_xy: tuple[int, int]) -> None:
    """Press at frame pixel `from_xy`, move by `by_xy` frame pixels in small steps, release."""
    frame_w = int(canvas.get_attribute("width"))
    size = canvas.size
    scale = size["width"] / frame_w  # CSS pixels per frame pixel
    ox = (from_xy[0] - frame_w / 2) * scale  # Selenium offsets are from the element's centre
    oy = (from_xy[1] - int(canvas.get_attribute("height")) / 2) * scale
    actions = ActionChains(browser).move_to_element_with_offset(canvas, int(ox), int(oy)).click_and_hold()
    steps = 5
    for _ in range(steps):
        actions.move_by_offset(int(by_xy[0] * scale / steps), int(by_xy[1] * scale / steps))
    actions.release().perform()


def _listed(browser: Any) -> list[list[int]]:
    texts = browser.execute_script(
        "return [...document.querySelectorAll('#roi-list .roi-text')].map(e => e.textContent);")
    return [[int(v) for v in t.split(",")] for t in texts]


def test_drag_a_cavity_save_and_the_next_verdicts_use_the_new_crop(
        console_run: Callable[..., ConsoleRun], browser: Any, screenshot: Callable[[Any, str], Any]) -> None:
    run = console_run(shots=60, threshold=0.0)  # every part NG: every verdict carries its crop's ROI
    assert run.station is not None
    old = run.station.cavities[0].roi_xywh
    assert old == (32, 32, 160, 160)
    canvas = _open_editor(browser, run)
    screenshot(browser, "rois")
    _drag(browser, canvas, (old[0] + 80, old[1] + 80), (-14, -12))
    moved = wait_until(lambda: (roi := _listed(browser)[0]) != list(old) and roi, "the box to move")
    assert moved[2:] == [160, 160] and moved[0] < old[0] and moved[1] < old[1]
    browser.find_element(By.ID, "save").click()
    status = browser.find_element(By.ID, "roi-status")
    wait_until(lambda: "good" in (status.get_attribute("class") or ""), "the save to be accepted")
    assert str(run.config_path) in status.text
    screenshot(browser, "rois-saved")
    new = tuple(moved)
    assert run.station.pipeline.cavities[0].roi_xywh == new
    saved = yaml.safe_load(run.config_path.read_text())
    assert saved["cavities"][0] == {"id": 1, "roi": list(new)}
    assert run.config_path.read_text().startswith("# the test's station")  # only cavities: was replaced
    backup = run.config_path.with_name("station.yaml.bak")
    assert yaml.safe_load(backup.read_text())["cavities"][0]["roi"] == list(old)

    def cavity1() -> list[tuple[int, Any]]:
        return [(v.frame_id, e.roi_xywh) for v, e in run.memory.evidence if v.cavity == 1]

    first_new = wait_until(lambda: next((f for f, roi in cavity1() if roi == new), None),
                           "a verdict judged on the new crop")
    later = wait_until(lambda: [(f, roi) for f, roi in cavity1() if f > first_new], "more verdicts after it")
    assert all(roi == new for _, roi in later)  # batches taken after the swap: all on the new crop
    assert all(roi == old for f, roi in cavity1() if f < first_new)  # before: the old one


def test_a_bad_layout_is_refused_with_its_reason_on_the_page(
        console_run: Callable[..., ConsoleRun], browser: Any, screenshot: Callable[[Any, str], Any]) -> None:
    run = console_run(shots=40)
    before = run.config_path.read_text()
    canvas = _open_editor(browser, run)
    _drag(browser, canvas, (112, 112), (40, 0))  # cavity 1 onto cavity 2
    browser.find_element(By.ID, "save").click()
    errors = wait_until(lambda: browser.find_element(By.ID, "roi-errors").text, "the refusal")
    assert EN["roi.err.overlap"].format(a=1, b=2) in errors
    screenshot(browser, "rois-refused")
    for roi, reason in (([300, 300, 160, 160], EN["roi.err.outside"].format(n=1, w=400, h=400)),
                        ([10, 10, 0, 50], EN["roi.err.zero"].format(n=1))):
        answer = browser.execute_async_script("""
            const [roi, done] = arguments;
            fetch("/api/rois", {method: "POST", headers: {"content-type": "application/json",
                  "x-csrf-token": document.querySelector('meta[name="csrf-token"]').content},
                  body: JSON.stringify({cavities: [{id: 1, roi}]})})
              .then(async r => done({status: r.status, body: await r.json()}));
        """, roi)
        assert answer["status"] == 422 and reason in answer["body"]["errors"], answer
    assert run.config_path.read_text() == before
    assert run.station is not None and run.station.pipeline.cavities[0].roi_xywh == (32, 32, 160, 160)


def test_the_preview_is_the_crop_resized_as_the_model_sees_it(
        console_run: Callable[..., ConsoleRun], browser: Any) -> None:
    run = console_run(shots=20)
    _open_editor(browser, run)
    script = ("return [...document.querySelectorAll('#previews img')]"
              ".map(i => [i.naturalWidth, i.naturalHeight]);")
    sizes = wait_until(lambda: (s := browser.execute_script(script)) and all(w for w, _ in s) and s,
                       "the four previews")
    assert sizes == [[64, 64]] * 4  # the tiny model's input


def test_a_finger_drags_a_box_too(console_run: Callable[..., ConsoleRun], browser: Any) -> None:
    """Touch pointer events (a tablet on the line) move a box as the mouse does."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    run = console_run(shots=20)
    canvas = _open_editor(browser, run)
    scale = canvas.size["width"] / int(canvas.get_attribute("width"))
    finger = PointerInput(interaction.POINTER_TOUCH, "finger")
    actions = ActionBuilder(browser, mouse=finger)
    actions.pointer_action.move_to(canvas, int((112 - 200) * scale), int((112 - 200) * scale))
    actions.pointer_action.pointer_down()
    for _ in range(4):
        actions.pointer_action.move_by(int(-3 * scale), int(-3 * scale))
    actions.pointer_action.pointer_up()
    actions.perform()
    moved = wait_until(lambda: (roi := _listed(browser)[0]) != [32, 32, 160, 160] and roi, "the box to move")
    assert moved[0] < 32 and moved[1] < 32 and moved[2:] == [160, 160]
