"""The models page in a real headless Chromium, on a replay whose station has a registry of two real
ONNX versions: an engineer promotes from the page (the station judges with the new version at once)
and rolls back; a viewer sees the versions, gets no buttons, and a promote from the viewer's session
is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from edge.console.auth import hash_password
from edge.console.i18n import CATALOGUE
from edge.registry import Registry
from tests.edge.console.harness import ConsoleRun, page_text
from tests.edge.console.test_console_i18n import _english_left
from tests.edge.console.test_console_security import PASSWORDS, _login, _post
from tests.waiting import wait_until

EN = CATALOGUE["en"]


@pytest.fixture
def with_registry(tmp_path: Path, tiny_model_factory: Callable[..., Path],
                  console_run: Callable[..., ConsoleRun]) -> ConsoleRun:
    registry = Registry(tmp_path / "reg")
    registry.promote(registry.add(tiny_model_factory("first", seed=0), "jun").version, "jun")
    registry.add(tiny_model_factory("second", seed=1), "jun", note="retrained")
    users = {"mina": {"role": "viewer", "password_hash": hash_password(PASSWORDS["mina"])},
             "jun": {"role": "engineer", "password_hash": hash_password(PASSWORDS["jun"])}}
    return console_run(shots=30, console={"users": users},
                       sections={"registry": {"path": str(tmp_path / "reg")}})


def _judging(browser: Any) -> str | None:
    """The page's "judging now" version; None while the page reloads. Read in one script: between a
    find and a read the page may replace the node, which Chromium reports as a stale element or as
    "Node with given id does not belong to the document"."""
    return browser.execute_script("const e = document.getElementById('judging'); return e && e.innerText;")


def _row(browser: Any, version: str) -> Any:
    return browser.find_element(By.CSS_SELECTOR, f"#versions tr[data-version='{version}']")


def test_an_engineer_promotes_and_rolls_back_from_the_page(with_registry: ConsoleRun, browser: Any,
                                                          screenshot: Callable[[Any, str], Any]) -> None:
    run = with_registry
    assert run.station is not None and run.station.model_version == "v1"
    _login(browser, run, "jun")
    wait_until(lambda: browser.current_url.endswith("/live"), "the live view after the engineer's login")
    browser.get(run.url + "/models")
    assert _judging(browser) == "v1"
    assert EN["models.active"] in _row(browser, "v1").text and "retrained" not in _row(browser, "v1").text
    screenshot(browser, "models-before")
    _row(browser, "v2").find_element(By.CSS_SELECTOR, "button.promote").click()
    wait_until(lambda: _judging(browser) == "v2", "the page after the promote", 120)
    assert run.station.model_version == "v2"
    assert EN["models.active"] in _row(browser, "v2").text
    first_history = browser.find_element(By.CSS_SELECTOR, "#history tr:nth-child(2)").text
    assert "jun" in first_history and EN["models.action.promoted"] in first_history
    screenshot(browser, "models-promoted")
    wait_until(lambda: any(v.model_version == "v2" for v in run.memory.verdicts),
               "a verdict judged by v2", 120)

    browser.find_element(By.ID, "rollback").click()
    wait_until(lambda: _judging(browser) == "v1", "the page after the rollback", 120)
    assert run.station.model_version == "v1"
    history = run.station.registry.history()  # type: ignore[union-attr]
    assert [(h["action"], h["version"], h["who"]) for h in history[-2:]] == [
        ("promoted", "v2", "jun"), ("rolled_back", "v1", "jun")]


def test_a_viewer_sees_the_versions_and_is_refused_a_promote(with_registry: ConsoleRun, browser: Any) -> None:
    run = with_registry
    _login(browser, run, "mina")
    wait_until(lambda: browser.current_url.endswith("/live"), "the live view after the viewer's login")
    browser.get(run.url + "/models")
    assert {r.get_attribute("data-version") for r in
            browser.find_elements(By.CSS_SELECTOR, "#versions tr[data-version]")} == {"v1", "v2"}
    assert not browser.find_elements(By.CSS_SELECTOR, "button[data-action]")
    assert EN["models.viewer_note"] in browser.find_element(By.TAG_NAME, "body").text
    for path, body in (("/api/models/promote", '{"version": "v2"}'), ("/api/models/rollback", "{}"),
                       ("/api/models/candidate", '{"version": "v2"}')):
        answer = _post(browser, path, body)
        assert answer["status"] == 403 and EN["err.role"] in answer["text"], (path, answer)
    assert run.station is not None and run.station.model_version == "v1"
    assert run.station.registry is not None and run.station.registry.candidate_name() is None

    browser.add_cookie({"name": "mp_lang", "value": "ko", "path": "/"})
    browser.get(run.url + "/models")
    text = page_text(browser)
    assert CATALOGUE["ko"]["models.versions"] in text and not _english_left(text), _english_left(text)
