"""The shadow page in a real headless Chromium over a replay of simulator footage with a real ONNX
candidate: it shows what the candidate judged and how often it agreed; an engineer stops and starts
it; a viewer sees it but may not touch it; a start without a candidate says why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By

from edge.console.auth import hash_password
from edge.console.i18n import CATALOGUE
from tests.edge.console.harness import ConsoleRun
from tests.waiting import wait_until

EN = CATALOGUE["en"]


def _state(browser: Any) -> str | None:
    return browser.find_element(By.CSS_SELECTOR, "section.shadow").get_attribute("data-state")


def _row(browser: Any, table: str, label: str) -> str | None:
    """The value beside `label` in one of the page's tables, read in one go (the page redraws them)."""
    return browser.execute_script("""
        for (const tr of document.querySelectorAll("#" + arguments[0] + " tr")) {
          const td = [...tr.querySelectorAll("td")].map((cell) => cell.textContent.trim());
          if (td.length === 2 && td[0].startsWith(arguments[1])) return td[1];
        }
        return null;""", table, label)


def test_an_engineer_sees_the_agreement_and_stops_and_starts_the_shadow(
        console_run: Callable[..., ConsoleRun], browser: Any, tiny_model: Path,
        screenshot: Callable[[Any, str], Any]) -> None:
    run = console_run(shots=12, sections={"shadow": {"model": str(tiny_model), "window_parts": 50}})
    assert run.station is not None
    browser.get(run.url + "/shadow")
    wait_until(lambda: _state(browser) == "on", "the shadow page showing the candidate judging")
    judged = wait_until(lambda: int(_row(browser, "shadow-model", EN["shadow.parts_judged"]) or 0),
                        "parts judged by the candidate", 90)
    assert judged > 0
    same = EN["shadow.with_active"].split(" (")[0]
    assert wait_until(lambda: _row(browser, "shadow-agreement", same), "the agreement") == "100.0 %"
    assert _row(browser, "shadow-model", EN["shadow.name"]) == "tiny_defect"
    screenshot(browser, "shadow-on")
    browser.find_element(By.ID, "shadow-stop").click()
    wait_until(lambda: _state(browser) == "off", "the page showing shadow mode off")
    assert run.station.shadows.shadow is None and run.station.pipeline.shadow is None
    browser.find_element(By.ID, "shadow-start").click()
    wait_until(lambda: _state(browser) == "on", "the page showing the candidate judging again")
    shadows = run.station.shadows
    assert shadows.shadow is not None and run.station.pipeline.shadow is shadows.shadow


def test_a_viewer_sees_the_shadow_but_may_not_stop_it(console_run: Callable[..., ConsoleRun], browser: Any,
                                                      tiny_model: Path) -> None:
    users = {"mina": {"role": "viewer", "password_hash": hash_password("viewer-pass-1")}}
    run = console_run(shots=6, console={"users": users}, sections={"shadow": {"model": str(tiny_model)}})
    browser.get(run.url + "/login")
    browser.find_element(By.ID, "user").send_keys("mina")
    browser.find_element(By.ID, "password").send_keys("viewer-pass-1")
    browser.find_element(By.ID, "login").click()
    wait_until(lambda: browser.current_url.endswith("/live"), "the live view after the viewer's login")
    browser.get(run.url + "/shadow")
    wait_until(lambda: _state(browser) == "on", "the shadow page")
    assert not browser.find_elements(By.ID, "shadow-stop")
    assert EN["shadow.viewer_note"] in browser.find_element(By.TAG_NAME, "body").text
    answer = browser.execute_async_script("""
        const done = arguments[0];
        fetch("/api/shadow/stop", {method: "POST", body: "{}", credentials: "same-origin",
          headers: {"x-csrf-token": document.querySelector('meta[name="csrf-token"]').content}})
          .then(async r => done({status: r.status, text: await r.text()}));""")
    assert answer["status"] == 403 and EN["err.role"] in answer["text"]
    assert run.station is not None and run.station.shadows.shadow is not None


def test_a_start_without_a_candidate_says_why(console_run: Callable[..., ConsoleRun], browser: Any) -> None:
    run = console_run(shots=4)
    browser.get(run.url + "/shadow")
    wait_until(lambda: _state(browser) == "off", "the shadow page showing shadow mode off")
    browser.find_element(By.ID, "shadow-start").click()
    status = wait_until(lambda: browser.find_element(By.ID, "shadow-status").text
                        if "shadow.model" in browser.find_element(By.ID, "shadow-status").text else None,
                        "the refusal on the page")
    assert status.startswith(EN["shadow.err.start"].split("{")[0])
    assert run.station is not None and run.station.shadows.shadow is None
