"""The whole teach loop in a real headless Chromium, on a mold the shipped model has never seen.

The simulator's bezel (one mold: `mold_seed`) in three recordings, as on three days of one line:

1. Monday, a station with the shipped model as the registry's active version (v1) replays its
   recording at the camera's pace. On the review page the engineer collects the next parts of cavity 4
   (a cavity known to be good) as good parts, then labels the whole review queue with the keyboard,
   knowing each part's truth (the simulator's ground truth, found by the shot and cavity the page
   shows). On the teach page he trains (a real `moldpilot train` child, started from the active
   model's network), reads the readiness verdict and validates the candidate (v2) beside v1 on a
   labelled hold-out and a recording.
2. Tuesday, the station restarted on the next recording: the candidate judges in shadow mode from the
   shadow page, then the engineer promotes it on the models page while the line runs.
3. Fresh footage of the same mold, replayed once with each version: the promoted one is more accurate
   than the shipped one, by the margin printed here (and reported in the issue's note).

Every trigger gets exactly one verdict, and each verdict names the version that judged it.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from edge.cli import main
from edge.console.i18n import CATALOGUE
from edge.registry import Registry
from sim.footage import FootageSettings, write_footage
from tests.edge.console.harness import ConsoleRun
from tests.edge.console.test_console_models import _judging, _row
from tests.edge.console.test_console_review import _keys_for, _next, _shown
from tests.edge.console.test_console_shadow import _row as _shadow_row
from tests.edge.console.test_console_shadow import _state as _shadow_state
from tests.edge.teach.teach_parts import SHIPPED
from tests.waiting import wait_until

EN = CATALOGUE["en"]
MOLD_SEED = 4242  # the line's mold, in every recording
GOOD_CAVITY = 4  # its cavity without defects: the engineer collects good parts there
COLLECT = 12
MAX_LABELS = 200  # the budget of labelled parts
JOB_S = 600.0  # training and validation children at nice 19 on a loaded 2-core machine


def _day(shots: int, seed: int) -> FootageSettings:
    # seed 310: its first 40 shots already hold 6 or more parts of every defect class (the trainer needs 5)
    return FootageSettings(shots=shots, seed=seed, mold_seed=MOLD_SEED, cavities=4, shape="bezel",
                           defect_rate=0.45, cavity_defect_rates={GOOD_CAVITY: 0.0}, cycle_s=0.5)


def _sections(tmp_path: Path, holdout: Path, validation_footage: Path) -> dict[str, Any]:
    return {"registry": {"path": str(tmp_path / "registry")},
            "review": {"folder": str(tmp_path / "review"), "dataset": str(tmp_path / "dataset"),
                       "ok_sample": 1.0},
            "teach": {"work_dir": str(tmp_path / "teach"), "holdout": str(holdout),
                      "footage": [str(validation_footage)]},
            "shadow": {"window_parts": 40}}


def _truth(run: ConsoleRun) -> dict[tuple[int, int], str]:
    return {(s.shot, c.cavity): c.defect if c.label != "ok" and c.defect else "ok"
            for s in run.timeline.shots for c in s.cavities}


def _collect_and_label(run: ConsoleRun, browser: Any) -> int:
    """Collect COLLECT good parts of GOOD_CAVITY, then label the whole queue; returns the labels filed."""
    assert run.station is not None
    browser.get(run.url + "/review")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#c-label option"), "the collect form")
    browser.find_element(By.ID, "c-count").clear()
    browser.find_element(By.ID, "c-count").send_keys(str(COLLECT))
    browser.find_element(By.ID, "c-cavities").send_keys(str(GOOD_CAVITY))
    browser.find_element(By.ID, "c-start").click()  # the first option: good parts
    progress = browser.find_element(By.ID, "c-progress")
    wait_until(lambda: progress.get_attribute("data-filed") == str(COLLECT), "the good parts collected", 120)
    pipeline = run.station.pipeline
    wait_until(lambda: pipeline.done.is_set() and pipeline.fanout.stats()["review"].queued == 0,
               "every part of the recording judged and through the review sink", 120)
    browser.get(run.url + "/review")
    truth, keys, labelled = _truth(run), ActionChains(browser), 0
    shown = wait_until(lambda: (s := _shown(browser))["id"] and s, "a part on the review page")
    classes = shown["classes"].split(",")
    while shown["id"]:
        part_truth = truth[(int(shown["shot"]), int(shown["cavity"]))]
        keys.send_keys(*_keys_for(shown, part_truth, classes)).perform()
        labelled += 1
        shown = _next(browser, shown["id"])
    wait_until(lambda: _shown(browser)["labelled"] == str(labelled), "every label answered")
    wait_until(lambda: browser.find_element(By.ID, "n-labelled").text == str(labelled + COLLECT),
               "the dataset's count on the page")
    assert labelled + COLLECT <= MAX_LABELS
    return labelled + COLLECT


def _train_and_validate(run: ConsoleRun, browser: Any, screenshot: Callable[[Any, str], Any]) -> str:
    """Train and validate from the teach page; returns the candidate's version."""
    assert run.station is not None and run.station.registry is not None
    browser.get(run.url + "/teach")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#dataset-counts tr"), "the dataset counts")
    browser.find_element(By.ID, "train").click()
    readiness = browser.find_element(By.ID, "readiness")
    verdict = wait_until(lambda: readiness.get_attribute("data-verdict"), "the readiness verdict", JOB_S)
    assert verdict in ("READY", "NOT READY") and readiness.text.startswith("Verdict:")
    candidate = run.station.registry.candidate()
    assert candidate is not None and candidate.version in browser.find_element(By.ID, "train-status").text
    wait_until(lambda: browser.find_element(By.ID, "validate").is_enabled(), "the validate button")
    browser.find_element(By.ID, "validate").click()
    root = browser.find_element(By.ID, "teach")
    wait_until(lambda: root.get_attribute("data-validation") in ("done", "failed"), "the validation", JOB_S)
    status = browser.find_element(By.ID, "validate-status").text
    assert root.get_attribute("data-validation") == "done", status
    screenshot(browser, "teach-loop-validated")
    record = run.station.registry.validation(candidate.version)
    assert record is not None
    for source in ("holdout", "footage"):  # beside the shipped model, on parts neither has seen
        mine, theirs = record["candidate"][source], record["active"][source]
        assert mine["escapes"] + mine["false_rejects"] < theirs["escapes"] + theirs["false_rejects"], source
    return str(candidate.version)


def _shadow_and_promote(run: ConsoleRun, browser: Any, candidate: str) -> None:
    assert run.station is not None
    browser.get(run.url + "/shadow")
    wait_until(lambda: _shadow_state(browser) == "off", "the shadow page, shadow mode off")
    browser.find_element(By.ID, "shadow-start").click()
    wait_until(lambda: _shadow_state(browser) == "on", "the candidate judging in the shadow")
    wait_until(lambda: int(_shadow_row(browser, "shadow-model", EN["shadow.parts_judged"]) or 0) >= 20,
               "parts judged by the candidate in the shadow", 120)
    same = EN["shadow.with_active"].split(" (")[0]
    agreement = wait_until(lambda: _shadow_row(browser, "shadow-agreement", same), "the agreement")
    assert float(agreement.split()[0]) < 100.0  # it passes good bezels the shipped model rejects
    assert not run.station.pipeline.done.is_set()  # all this while the line runs
    browser.get(run.url + "/models")
    assert _judging(browser) == "v1"
    _row(browser, candidate).find_element(By.CSS_SELECTOR, "button.promote").click()
    wait_until(lambda: _judging(browser) == candidate, "the page after the promote", 120)
    wait_until(lambda: any(v.model_version == candidate for v in run.memory.verdicts),
               "a verdict judged by the promoted version", 120)


def _fresh(footage: Path, model: Path) -> dict[str, Any]:
    """`moldpilot replay FOOTAGE --model MODEL --json`: the line's own scoring against the truth."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["replay", str(footage), "--model", str(model), "--json"]) == 0
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    return {k: summary[k] for k in ("accuracy", "escape_rate", "false_reject_rate", "ng_parts", "ok_parts")}


@pytest.mark.timeout(900)  # two stations, a training and a validation job on a loaded 2-core machine
def test_teach_a_new_mold_from_the_console_and_promote_it(tmp_path: Path, browser: Any,
                                                          screenshot: Callable[[Any, str], Any]) -> None:
    registry = Registry(tmp_path / "registry")
    registry.promote(registry.add(SHIPPED, "test", "shipped").version, "test")
    validation_footage = tmp_path / "validation" / "line.avi"
    validation_footage.parent.mkdir()
    write_footage(validation_footage, _day(10, seed=320))
    holdout = tmp_path / "holdout"
    with contextlib.redirect_stdout(io.StringIO()):  # the hold-out: labelled crops of another recording
        assert main(["crops", str(validation_footage), "--out", str(holdout)]) == 0
    sections = _sections(tmp_path, holdout, validation_footage)

    monday = ConsoleRun(tmp_path / "monday", SHIPPED, footage=_day(48, seed=310), every_frame=False,
                        sections=sections)
    try:
        monday.start()
        labels = _collect_and_label(monday, browser)
        candidate = _train_and_validate(monday, browser, screenshot)
    finally:
        monday.close()

    tuesday = ConsoleRun(tmp_path / "tuesday", SHIPPED, footage=_day(60, seed=311), every_frame=False,
                         sections=sections)
    try:
        tuesday.start()
        _shadow_and_promote(tuesday, browser, candidate)
        screenshot(browser, "teach-loop-promoted")
        assert tuesday.station is not None
        wait_until(tuesday.station.pipeline.done.is_set, "the rest of Tuesday's recording judged", 120)
    finally:
        tuesday.close()
    verdicts = tuesday.memory.verdicts
    shots = len(tuesday.timeline.shots)
    assert sorted((v.shot, v.cavity) for v in verdicts) == [(s, c) for s in range(1, shots + 1)
                                                           for c in range(1, 5)]  # one verdict each
    versions = [v.model_version for v in sorted(verdicts, key=lambda v: (v.shot, v.cavity))]
    switch = versions.index(candidate)
    assert set(versions[:switch]) == {"v1"} and set(versions[switch:]) == {candidate}  # never a mix

    promoted = registry.active()
    assert promoted is not None and promoted.version == candidate
    fresh = tmp_path / "fresh" / "line.avi"
    fresh.parent.mkdir()
    write_footage(fresh, _day(60, seed=330))
    before, after = (_fresh(fresh, model) for model in (SHIPPED, promoted.path))
    print(f"\nteach loop: {labels} labels; fresh footage of the bezel ({after['ng_parts']} NG and "
          f"{after['ok_parts']} OK parts): shipped {before}; promoted {after}")
    assert after["accuracy"] >= before["accuracy"] + 0.3, (before, after)
