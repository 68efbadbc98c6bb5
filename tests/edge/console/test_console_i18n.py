"""Korean and English: one catalogue with the same keys, every key the templates and scripts use is in
it, no template text outside t(), and the Korean pages in a real browser have no English label left."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from edge.console import i18n
from edge.console.i18n import CATALOGUE
from edge.console.panel import PLC_KEYS
from edge.verdict import Decision, ErrorCode
from tests.edge.console.harness import ConsoleRun, page_text
from tests.waiting import wait_until

CONSOLE = Path(i18n.__file__).parent
TEMPLATES = sorted((CONSOLE / "templates").glob("*.html"))
SCRIPTS = sorted((CONSOLE / "static").glob("*.js"))
JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)


def test_both_languages_have_every_key() -> None:
    assert CATALOGUE["en"].keys() == CATALOGUE["ko"].keys()
    assert all(CATALOGUE["ko"][key].strip() for key in CATALOGUE["ko"])


def test_every_key_used_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for path in TEMPLATES:
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", path.read_text()))
    for path in SCRIPTS:
        used |= set(re.findall(r"""MP\.t\(\s*["']([\w.]+)["']""", path.read_text()))
    python = "".join(p.read_text() for p in CONSOLE.glob("*.py"))
    used |= set(re.findall(r"""\.t\(\s*["']([\w.]+)["']""", python))
    used |= set(re.findall(r"""\("(roi\.err\.\w+)", \{""", python))
    missing = sorted(key for key in used if not key.endswith(".") and key not in CATALOGUE["en"])
    assert not missing, f"keys used but not in the catalogue: {missing}"
    assert len(used) > 60


def test_every_value_the_pages_label_has_its_text() -> None:
    """Keys built from station values ("decision." + name, ...): every name the station can send."""
    names = {*(f"decision.{d.name}" for d in Decision),
             *(f"reason.{e.name}" for e in ErrorCode if e is not ErrorCode.NONE),
             *(f"role.{r}" for r in ("viewer", "engineer")),
             *(f"nav.{page.stem}" for page in TEMPLATES if page.stem != "base"),
             *(f"counter.{k}" for k in ("parts", "ok", "ng", "no_decision", "deadline_misses")),
             *(f"plc.{k}" for k in PLC_KEYS), "camera.ok", "camera.lost", "camera.file"}
    assert not sorted(names - CATALOGUE["en"].keys())


def test_no_template_text_is_left_outside_the_catalogue() -> None:
    for path in TEMPLATES:
        html = JINJA.sub(" ", path.read_text())
        html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
        for attribute in ("placeholder", "title", "alt", "aria-label", "value"):
            for text in re.findall(rf'{attribute}="([^"]*)"', html):
                assert not re.search(r"[A-Za-z가-힣]{2,}", text) or attribute == "value", (path.name, text)
        text = re.sub(r"<[^>]*>", " ", html)
        words = re.findall(r"[A-Za-z가-힣]+", text)
        assert not words, f"{path.name}: text outside t(): {words}"


def _english_left(text: str) -> list[str]:
    """The English labels (those that differ from their Korean) that appear in `text`."""
    en, ko = CATALOGUE["en"], CATALOGUE["ko"]
    labels = {en[k] for k in en if en[k] != ko[k] and re.search(r"[A-Za-z]{3,}", en[k])}
    plain = [re.sub(r"\{\w+\}.*", "", label).strip() for label in labels]  # the text before a {value}
    return sorted(label for label in plain if len(label) >= 3 and label in text)


def test_the_korean_pages_have_no_english_label_left(
        console_run: Callable[..., ConsoleRun], browser: Any, screenshot: Callable[[Any, str], Any]) -> None:
    run = console_run(shots=20, threshold=0.0)
    browser.get(run.url + "/live")
    Select(browser.find_element(By.ID, "lang")).select_by_value("ko")  # the switch on the page
    # One script per look: the switch reloads the page, and an element found before it goes stale.
    wait_until(lambda: browser.execute_script("return document.documentElement.lang") == "ko",
               "the page in Korean")
    for page, ready in (("live", "#verdicts li[data-decision='NG']"), ("panel", "#counters tr"),
                        ("rois", "#editor[data-ready='yes']"), ("gallery", "#parts figure")):
        browser.get(f"{run.url}/{page}")  # remembered: the cookie the switch set
        wait_until(lambda ready=ready: browser.find_elements(By.CSS_SELECTOR, ready),
                   f"the {page} page filled")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko"
        text = page_text(browser)
        assert re.search(r"[가-힣]", text)
        assert not _english_left(text), (page, _english_left(text))
        screenshot(browser, f"{page}-ko")
