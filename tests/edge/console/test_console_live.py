"""The live view in a real browser while a replay runs: frames and verdicts change, ROIs are drawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selenium.webdriver.common.by import By

from edge.console.live import ENCODE_INTERVAL_S
from tests.edge.console.harness import ConsoleRun
from tests.waiting import wait_until


def _shown(browser: Any) -> tuple[str, str]:
    """The frame number and the verdicts' sequence numbers on the page, read in one go."""
    frame, seqs = browser.execute_script(
        "return [document.getElementById('frame-id').textContent, "
        "[...document.querySelectorAll('#verdicts li')].map(li => li.dataset.seq).join(',')];")
    return frame, seqs


def test_live_view_shows_frames_and_verdicts_changing(console_run: Callable[..., ConsoleRun], browser: Any,
                                                      screenshot: Callable[[Any, str], Any]) -> None:
    run = console_run(shots=20, threshold=0.0)  # every part NG: each verdict has its heatmap
    browser.get(run.url + "/live")
    first = wait_until(lambda: (s := _shown(browser))[0].isdigit() and s, "a first frame on the live view")
    # The list is redrawn at every refresh: read it in one script, never through a stale element.
    decisions = wait_until(lambda: all(browser.execute_script(
        "return [...document.querySelectorAll('#verdicts li')].map(li => li.dataset.decision);") or [""]) and
        browser.execute_script("return [...document.querySelectorAll('#verdicts li')].map(li => "
                               "[li.dataset.cavity, li.dataset.decision]);"), "a verdict for every cavity")
    assert [cavity for cavity, _ in decisions] == ["1", "2", "3", "4"]
    assert {decision for _, decision in decisions} <= {"OK", "NG", "NO_DECISION"}
    later = wait_until(lambda: (s := _shown(browser))[0] != first[0] and s[1] != first[1] and s,
                       "a newer frame and newer verdicts")
    assert int(later[0]) > int(first[0])
    # The picture is drawn: the canvas took the frame's shape.
    size = browser.execute_script("const c = document.getElementById('view'); return [c.width, c.height];")
    assert size == [800, 800]  # 400 x 400 simulator frames, drawn twice as large
    screenshot(browser, "live")
    state = browser.execute_async_script(
        "const done = arguments[0]; fetch('/api/live/state').then(r => r.json()).then(done);")
    assert state["camera"]["lost"] is False
    assert state["encodes"] >= 1
    assert all(c["heatmap"] for c in state["cavities"])
    browser.find_element(By.ID, "heatmap").click()
    both = browser.execute_async_script("""
        const done = arguments[0];
        const size = (h) => fetch('/api/live/frame.jpg?heatmap=' + h).then(r => r.arrayBuffer());
        Promise.all([size(0), size(1)]).then(([a, b]) => done([a.byteLength, b.byteLength]));
    """)
    assert both[0] > 0 and both[1] > 0 and both[0] != both[1]  # the heatmap is blended in on a copy
    canvas = browser.find_element(By.ID, "view")
    wait_until(lambda: "/true/" in (canvas.get_attribute("data-shown") or ""), "the heatmap on the canvas")
    screenshot(browser, "live-heatmap")


def test_browsers_asking_faster_than_the_encoding_window_share_one_picture(
        console_run: Callable[..., ConsoleRun], browser: Any) -> None:
    """However many requests come, at most one JPEG per ENCODE_INTERVAL_S: the replay runs as fast as
    the model goes (frames change every few ms), and 30 requests in a row get far fewer encodings.
    Once the frames stop, the state brings the picture only to a browser that does not show it yet."""
    run = console_run(shots=40, speed="max")
    browser.get(run.url + "/live")
    wait_until(lambda: _shown(browser)[0].isdigit(), "a first frame on the live view")
    before, after, elapsed_ms, ids = browser.execute_async_script("""
        const done = arguments[0];
        const encodes = () => fetch('/api/live/state').then(r => r.json()).then(s => s.encodes);
        (async () => {
          const before = await encodes(), ids = new Set(), t0 = performance.now();
          for (let i = 0; i < 30; i++) {
            const r = await fetch('/api/live/frame.jpg?heatmap=0');
            ids.add(r.headers.get('x-frame-id'));
          }
          const elapsed = performance.now() - t0;
          done([before, await encodes(), elapsed, ids.size]);
        })();""")
    assert run.station is not None and not run.station.pipeline.done.is_set()  # frames kept coming
    windows = int(elapsed_ms / (1000 * ENCODE_INTERVAL_S)) + 1
    assert after - before <= windows + 1, (before, after, elapsed_ms)  # + the live page's own ticks
    assert ids <= windows + 1

    wait_until(lambda: run.station is not None and run.station.pipeline.done.is_set(), "the footage's end")

    def state(**query: Any) -> dict[str, Any]:
        return browser.execute_async_script(
            "const done = arguments[1];"
            "fetch('/api/live/state?' + new URLSearchParams(arguments[0])).then(r => r.json()).then(done);",
            query)

    # the last frame's picture, once the window of the one encoded before it is over
    first = wait_until(lambda: (s := state())["picture"]["key"].startswith(f"{s['frame_id']}/") and s,
                       "the last frame's picture")
    frame_id, shown = first["frame_id"], first["picture"]["key"]
    assert shown == f"{frame_id}/false/false" and first["picture"]["jpeg_base64"]
    again = state(shown=shown)
    assert "picture" not in again and again["frame_id"] == frame_id  # the same picture is not sent again
    assert state(shown=shown, heatmap=1)["picture"]["key"] == f"{frame_id}/true/false"  # another variant is
