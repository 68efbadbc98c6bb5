"""The review page in a real browser, keyboard only: the shipped model judges simulator footage, the
review queue fills, and the test labels the parts as an operator who knows the truth would (the
simulator's ground truth, looked up in the footage's timeline by the shot and cavity the page shows),
with one undo on the way. The dataset folder is then read by the trainer's loader and labels.csv is
checked row by row. The labelling rate is printed (measured, never asserted)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from edge.commands.replay_cmd import default_model
from edge.teach.labels import read_labels
from models.dataset import scan
from tests.edge.console.harness import ConsoleRun
from tests.waiting import wait_until

SHIPPED = default_model()
AT_LEAST = 20


def _shown(browser: Any) -> dict[str, str]:
    return browser.execute_script(
        "const f = document.getElementById('facts').dataset, r = document.getElementById('review').dataset;"
        "return {id: r.shown || '', shot: f.shot, cavity: f.cavity, decision: f.decision, defect: f.defect,"
        " labelled: r.labelled || '0', classes: r.classes};")


def _next(browser: Any, previous: str) -> dict[str, str]:
    """The next part on the page, or no part once none waits (the page may be between refills: its
    own queue ran out before the next listing came back)."""
    def ready() -> dict[str, str] | None:
        shown = _shown(browser)
        if shown["id"] not in ("", previous):
            return shown
        empty = not shown["id"] and browser.find_element("id", "n-waiting").text == "0"
        return shown if empty else None

    return wait_until(ready, "the next part or an empty queue")


def _back(browser: Any, item: str) -> None:
    wait_until(lambda: _shown(browser)["id"] == item, "the undone part back on screen")


def _keys_for(shown: dict[str, str], truth: str, classes: list[str]) -> list[str]:
    """What an operator who knows the part's true class presses."""
    if truth == "ok":
        return ["1"] if shown["decision"] == "OK" else ["2"]
    if shown["decision"] == "NG" and shown["defect"] == truth:
        return [Keys.ENTER]
    return ["3", str(classes.index(truth) + 1)]


def test_an_operator_labels_the_queue_with_the_keyboard_only(tmp_path: Path, browser: Any,
                                                              screenshot: Callable[[Any, str], Any]) -> None:
    dataset = tmp_path / "dataset"
    run = ConsoleRun(tmp_path / "run", SHIPPED, shots=16, defect_rate=0.35, every_frame=False, speed="max",
                     sections={"review": {"folder": str(tmp_path / "review"), "dataset": str(dataset),
                                          "ok_sample": 0.5}})
    try:
        run.start()
        truth = {(s.shot, c.cavity): (c.defect or "ok") if c.label != "ok" else "ok"
                 for s in run.timeline.shots for c in s.cavities}
        assert run.station is not None
        pipeline = run.station.pipeline
        wait_until(lambda: pipeline.done.is_set() and pipeline.fanout.stats()["review"].queued == 0,
                   "every part judged and through the review sink", 120)
        browser.get(run.url + "/review")
        first = wait_until(lambda: (s := _shown(browser))["id"] and s, "a part on the review page")
        classes = first["classes"].split(",")
        wait_until(lambda: browser.execute_script(  # the crop and its heatmap, side by side
            "return ['crop', 'overlay'].every(id => document.getElementById(id).naturalWidth > 0);"),
            "the part's crop and heatmap on screen")
        waiting = int(browser.find_element("id", "n-waiting").text)
        assert waiting >= AT_LEAST + 2
        screenshot(browser, "review")
        keys = ActionChains(browser)
        expected: dict[str, str] = {}
        t0_s = time.monotonic()
        shown, undone = first, None
        while shown["id"] and len(expected) < waiting:
            label = truth[(int(shown["shot"]), int(shown["cavity"]))]
            if len(expected) == 5 and undone is None:  # a slip: the wrong key, then undo and do it right
                wrong = "ok" if label != "ok" else classes[0]
                keys.send_keys(*(_keys_for(shown, wrong, classes))).perform()
                wait_until(lambda: _shown(browser)["labelled"] == str(len(expected) + 1), "the slip filed")
                keys.send_keys(Keys.ARROW_LEFT).perform()
                undone = shown["id"]
                _back(browser, undone)
            keys.send_keys(*_keys_for(shown, label, classes)).perform()
            expected[shown["id"]] = label
            shown = _next(browser, shown["id"])
        wait_until(lambda: _shown(browser)["labelled"] == str(len(expected)), "every label answered")
        elapsed_s = time.monotonic() - t0_s
        assert browser.find_element("id", "n-labelled").text == str(len(expected))
        assert browser.find_element("id", "n-dropped").text == "0"
        screenshot(browser, "review-done")
    finally:
        run.close()
    assert len(expected) >= AT_LEAST
    print(f"\nreview page: {len(expected)} labels (+1 slip and its undo) in {elapsed_s:.1f} s = "
          f"{60 * len(expected) / elapsed_s:.0f} labels per minute")
    rows = read_labels(dataset)
    latest = {r["item"]: r for r in rows}
    assert {item: r["label"] for item, r in latest.items()} == expected
    assert len(rows) == len(expected) + 2  # the slip and its undo are in the history
    assert [r["answer"] for r in rows if r["item"] == undone][1] == "undone"
    assert {r["who"] for r in rows} == {"local"}
    data = scan(dataset, min_classes=1)  # the trainer's loader reads the folder as it is
    filed = {p.stem: data.class_names[label] for p, label in zip(data.paths, data.labels, strict=True)}
    assert filed == expected
