"""The teach page in a real headless Chromium: start a real training job from the page, watch its
progress and the readiness verdict, validate the candidate beside the shipped model (real eval and
replay children), move the threshold slider and save the threshold into the candidate's card.

The console is served on its own, not by a replaying station: the teach page reads only the teach
desk (StationHooks.teach), so the station's other hooks are left unanswerable here (they raise)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from edge.config import ConsoleSection
from edge.console.history import VerdictHistory
from edge.console.hooks import StationHooks
from edge.console.i18n import CATALOGUE
from edge.console.server import Console
from edge.teach.threshold import at_threshold, operating_points
from models.card import read_card
from tests.edge.teach.teach_parts import bezel_dataset, make_desk
from tests.waiting import wait_until

TRAIN_S = 600.0
VALIDATE_S = 600.0
EN = CATALOGUE["en"]


def _unused(*_: Any) -> Any:
    raise AssertionError("the teach page must not need the station's view")


@pytest.fixture
def teach_console(tmp_path: Path, bezel_train: Path, bezel_clip: Path) -> Iterator[tuple[str, Any]]:
    known = {p.name for p in bezel_train.iterdir() if p.is_dir()}
    holdout = bezel_dataset(tmp_path / "holdout", 30, seed=78, keep=known, min_per_class=1)
    desk = make_desk(tmp_path, bezel_train, holdout, (bezel_clip,))
    hooks = StationHooks(view=_unused, apply_rois=_unused, model_crop=_unused, config=_unused,
                         history=VerdictHistory(), teach=desk)
    console = Console(ConsoleSection(port=0), hooks)
    console.start()
    yield console.url.rstrip("/"), desk
    desk.jobs.close()
    desk.validator.join(60)
    console.close()


def test_train_validate_and_move_the_threshold_from_the_page(
        teach_console: tuple[str, Any], browser: Any, screenshot: Callable[[Any, str], Any]) -> None:
    url, desk = teach_console
    browser.get(url + "/teach")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#dataset-counts tr"), "the dataset counts")
    assert "598" in browser.find_element(By.ID, "dataset-hint").text  # the trainer's hint before training
    browser.find_element(By.ID, "train").click()
    bar = browser.find_element(By.ID, "train-progress")
    wait_until(lambda: float(bar.get_attribute("value") or 0) > 0
               and browser.find_element(By.ID, "train-stage").text, "progress on the page", TRAIN_S)
    screenshot(browser, "teach-training")
    readiness = browser.find_element(By.ID, "readiness")
    verdict = wait_until(lambda: readiness.get_attribute("data-verdict"), "the readiness verdict", TRAIN_S)
    assert verdict in ("READY", "NOT READY") and readiness.text.startswith("Verdict:")
    job = desk.jobs.state()
    assert job["state"] == "done" and job["candidate"] in browser.find_element(By.ID, "train-status").text
    version, model = desk.candidate()
    assert version == job["candidate"]

    wait_until(lambda: browser.find_element(By.ID, "validate").is_enabled(), "the validate button")
    browser.find_element(By.ID, "validate").click()
    root = browser.find_element(By.ID, "teach")
    wait_until(lambda: root.get_attribute("data-validation") in ("done", "failed"), "the validation",
               VALIDATE_S)
    assert root.get_attribute("data-validation") == "done", \
        browser.find_element(By.ID, "validate-status").text
    slider = browser.find_element(By.ID, "threshold")
    wait_until(slider.is_enabled, "the slider with the validation scores")
    table = browser.find_element(By.ID, "side-by-side").text
    assert EN["teach.active"] in table and version in table and EN["teach.escapes"] in table
    record = desk.validation(version)
    shown = browser.find_elements(By.CSS_SELECTOR, "#disagreements img")
    assert len(shown) == record["disagreement_images"]
    rows = operating_points([s for s, _ in record["scores"]], [d for _, d in record["scores"]])
    tradeoff = browser.find_element(By.ID, "tradeoff")

    def shown_at(t: float) -> None:
        wait_until(lambda: browser.find_element(By.ID, "threshold-value").text == f"{t:.3f}",
                   f"the slider at {t}")
        assert {"escapes": int(tradeoff.get_attribute("data-escapes")),
                "false_rejects": int(tradeoff.get_attribute("data-false-rejects"))} == at_threshold(rows, t)

    slider.send_keys(Keys.HOME)  # the keyboard moves a range input as a hand on it would
    shown_at(0.0)
    assert int(tradeoff.get_attribute("data-escapes")) == 0  # everything rejected: nothing escapes
    slider.send_keys(Keys.ARROW_RIGHT * 40)
    shown_at(0.04)
    slider.send_keys(Keys.END)
    shown_at(1.0)
    slider.send_keys(Keys.HOME, Keys.ARROW_RIGHT * 40)
    shown_at(0.04)
    screenshot(browser, "teach-threshold")
    browser.find_element(By.ID, "save-threshold").click()
    status = browser.find_element(By.ID, "threshold-status")
    wait_until(lambda: "good" in (status.get_attribute("class") or ""), "the threshold saved")
    card = read_card(model)
    assert card.threshold == pytest.approx(0.04)
    assert card.validation["threshold_set"]["escapes"] == at_threshold(rows, 0.04)["escapes"]
