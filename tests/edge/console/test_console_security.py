"""Logins, roles and CSRF, driven through a real browser: a viewer sees but cannot change; a write
without the page's token is refused; five wrong passwords lock the address out; every write route of
the app refuses a viewer."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from starlette.routing import Route

from edge.console.auth import hash_password
from edge.console.i18n import CATALOGUE
from tests.edge.console.harness import ConsoleRun
from tests.waiting import wait_until

EN = CATALOGUE["en"]
PASSWORDS = {"mina": "viewer-pass-1", "jun": "engineer-pass-1"}
ANY_ROLE_WRITES = {"/login", "/logout"}  # writes that change no station setting: every role may make them


@pytest.fixture
def secured(console_run: Callable[..., ConsoleRun]) -> ConsoleRun:
    users = {"mina": {"role": "viewer", "password_hash": hash_password(PASSWORDS["mina"])},
             "jun": {"role": "engineer", "password_hash": hash_password(PASSWORDS["jun"])}}
    return console_run(shots=30, console={"users": users})


def _login(browser: Any, run: ConsoleRun, user: str, password: str | None = None) -> None:
    browser.get(run.url + "/login")
    browser.find_element(By.ID, "user").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password or PASSWORDS[user])
    browser.find_element(By.ID, "login").click()


def _post(browser: Any, path: str, body: str, csrf: bool = True) -> dict[str, Any]:
    """A POST from the page, as its JavaScript makes it; with or without the page's CSRF token."""
    return browser.execute_async_script("""
        const [path, body, withToken, done] = arguments;
        const headers = {"content-type": "application/json"};
        if (withToken) headers["x-csrf-token"] = document.querySelector('meta[name="csrf-token"]').content;
        fetch(path, {method: "POST", body, headers, credentials: "same-origin"})
          .then(async r => done({status: r.status, text: await r.text()}));
    """, path, body, csrf)


def _layout_json(run: ConsoleRun) -> str:
    assert run.station is not None
    cavities = [{"id": c.id, "roi": list(c.roi_xywh or ())} for c in run.station.cavities]
    return json.dumps({"cavities": cavities})


def test_login_is_required_and_a_viewer_is_refused_a_write(secured: ConsoleRun, browser: Any,
                                                           screenshot: Callable[[Any, str], Any]) -> None:
    browser.get(secured.url + "/live")
    wait_until(lambda: browser.current_url.endswith("/login"), "the login page for a visitor without session")
    screenshot(browser, "login")
    _login(browser, secured, "mina")
    wait_until(lambda: browser.current_url.endswith("/live"), "the live view after the viewer's login")
    browser.get(secured.url + "/rois")
    wait_until(lambda: browser.find_element(By.ID, "editor").get_attribute("data-ready") == "yes",
               "the editor")
    browser.find_element(By.ID, "save").click()
    errors = wait_until(lambda: browser.find_element(By.ID, "roi-errors").text, "the refusal on the page")
    assert errors == EN["err.role"]
    assert browser.find_element(By.ID, "roi-status").text == EN["roi.refused"]
    screenshot(browser, "rois-viewer-refused")


def test_a_write_without_the_csrf_token_is_refused(secured: ConsoleRun, browser: Any) -> None:
    _login(browser, secured, "jun")
    wait_until(lambda: browser.current_url.endswith("/live"), "the live view after the engineer's login")
    before = secured.config_path.read_text()
    refused = _post(browser, "/api/rois", _layout_json(secured), csrf=False)
    assert refused["status"] == 403 and EN["err.csrf"] in refused["text"]
    assert secured.config_path.read_text() == before
    accepted = _post(browser, "/api/rois", _layout_json(secured), csrf=True)
    assert accepted["status"] == 200, accepted


def test_five_wrong_passwords_are_rate_limited_and_logged_without_the_password(
        secured: ConsoleRun, browser: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.console")
    for attempt in range(5):
        _login(browser, secured, "jun", f"wrong-guess-{attempt}")
        message = wait_until(lambda: browser.find_elements(By.ID, "login-message"), "the login's answer")
        assert message[0].text == EN["err.wrong"]
    _login(browser, secured, "jun")  # the right password, too late: this address is locked out
    message = wait_until(lambda: browser.find_elements(By.ID, "login-message"), "the login's answer")
    assert message[0].text == EN["err.locked"]
    browser.get(secured.url + "/live")
    assert browser.current_url.endswith("/login")
    assert caplog.text.count("console login failed for user 'jun'") == 5
    assert "refused: too many failed logins" in caplog.text
    assert not any(p in caplog.text for p in (*PASSWORDS.values(), "wrong-guess-"))


def test_a_viewer_is_refused_on_every_write_route(secured: ConsoleRun, browser: Any) -> None:
    assert secured.station is not None and secured.station.console is not None
    writes = [r for r in secured.station.console.app.routes
              if isinstance(r, Route) and (r.methods or set()) - {"GET", "HEAD"}]
    station_writes = [r for r in writes if r.path not in ANY_ROLE_WRITES]
    assert station_writes, "the app has no station write route at all"
    for route in station_writes:  # every write that is not a login is marked, so none is forgotten here
        assert getattr(route.endpoint, "station_write", False), f"{route.path} is not marked station_write"
    _login(browser, secured, "mina")
    wait_until(lambda: browser.current_url.endswith("/live"), "the live view after the viewer's login")
    before_yaml, before_cavities = secured.config_path.read_text(), secured.station.pipeline.cavities
    for route in station_writes:
        answer = _post(browser, route.path, _layout_json(secured))
        assert answer["status"] == 403, (route.path, answer)
        assert EN["err.role"] in answer["text"]
    assert secured.config_path.read_text() == before_yaml
    assert secured.station.pipeline.cavities == before_cavities


def test_without_a_session_the_api_answers_401(secured: ConsoleRun, browser: Any) -> None:
    browser.get(secured.url + "/login")
    answer = browser.execute_async_script(
        "const done = arguments[0]; fetch('/api/live/state').then(r => done(r.status));")
    assert answer == 401
