"""HealthWatch: the monitor on its own thread, fed without ever blocking, reporting through a callback."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge.health.conditions import Condition
from edge.health.monitor import HealthEvent, HealthMonitor
from edge.health.reference import Reference
from edge.health.thresholds import HealthThresholds
from edge.health.watch import HealthWatch
from edge.verdict import Decision, ErrorCode, Verdict
from sim.faults import parse_fault
from sim.timeline import read_timeline
from tests.health_runs import REFERENCE_SHOTS, render, trigger_frames


@pytest.fixture(scope="module")
def knocked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Reference, list[tuple[int, np.ndarray]]]:
    """A reference, then trigger frames of a camera knocked on shots 13-16 and put back."""
    fault = parse_fault(f"camera-shift@{REFERENCE_SHOTS + 3}:{REFERENCE_SHOTS + 6}")
    video = render(tmp_path_factory.mktemp("watch") / "k.avi", 41, REFERENCE_SHOTS + 11, [fault])
    frames = trigger_frames(video)
    reference = Reference.build([f for _, _, f in frames[:REFERENCE_SHOTS]], read_timeline(video).rois_xywh)
    return reference, [(shot, f) for shot, _, f in frames[REFERENCE_SHOTS:]]


class Recorder:
    def __init__(self) -> None:
        self.events: list[HealthEvent] = []
        self.threads: set[str] = set()
        self.changed = threading.Condition()

    def __call__(self, event: HealthEvent) -> None:
        with self.changed:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[HealthEvent]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.events) >= count, timeout_s), self.events
            return list(self.events)


def test_watch_raises_and_clears_on_its_own_thread(knocked: tuple[Reference, list]) -> None:
    reference, frames = knocked
    recorder = Recorder()
    with HealthWatch(reference, recorder, queue_size=len(frames)) as watch:
        for shot, frame in frames:
            assert watch.offer_frame(frame, shot)
        events = recorder.wait_for(2)
    assert [(e.condition, e.phase) for e in events] == [(Condition.CAMERA_MOVED, "new"),
                                                         (Condition.CAMERA_MOVED, "end")]  # no "update":
    # the knock's figure jitters by a pixel or so, far from doubling
    assert events[0].shot == REFERENCE_SHOTS + 4 and events[0].health_bits == Condition.CAMERA_MOVED.bit
    assert "view moved" in events[0].message("en") and "화면" in events[0].message("ko")
    assert recorder.threads == {"health-watch"}
    assert watch.state().health_bits == 0 and watch.state().frames == len(frames)
    assert watch.counters().dropped == 0


def test_offer_never_blocks_and_counts_drops(knocked: tuple[Reference, list]) -> None:
    reference, frames = knocked
    watch = HealthWatch(reference, Recorder(), queue_size=2)  # not started: nothing drains the queue
    frame = frames[0][1]
    start = time.perf_counter()
    accepted = [watch.offer_frame(frame) for _ in range(5)]
    assert time.perf_counter() - start < 0.5
    assert accepted == [True, True, False, False, False]
    assert watch.counters().offered == 5 and watch.counters().dropped == 3
    verdict = Verdict(1, 1, 1, 1, 0, Decision.NO_DECISION, None, None, ErrorCode.DEADLINE_MISSED, {}, 0, 0)
    assert watch.offer_verdicts([verdict]) is False
    watch.start()
    watch.close()
    assert watch.state().frames == 2


def test_offered_frames_are_copies(knocked: tuple[Reference, list]) -> None:
    reference, frames = knocked
    recorder = Recorder()
    watch = HealthWatch(reference, recorder, queue_size=4)
    reused = frames[0][1].copy()
    watch.offer_frame(reused)
    watch.offer_frame(reused)
    reused[:] = 0  # the pipeline reuses its buffer: the watch must not see this
    watch.start()
    watch.close()
    assert recorder.events == []


def test_camera_lost_when_frames_stop_and_a_failing_callback_does_not_stop_the_watch(
    knocked: tuple[Reference, list],
) -> None:
    reference, frames = knocked
    now = [100.0]
    calls: list[HealthEvent] = []
    arrived = threading.Event()

    def fragile(event: HealthEvent) -> None:
        calls.append(event)
        arrived.set()
        raise RuntimeError("a sink fell over")

    with HealthWatch(reference, fragile, clock=lambda: now[0]) as watch:
        watch.offer_frame(frames[0][1])
        now[0] += 6.0  # camera_lost_after_s is 5
        assert arrived.wait(5.0)
        arrived.clear()
        watch.offer_frame(frames[1][1])
        assert arrived.wait(5.0)
    assert [(e.condition, e.phase) for e in calls] == [(Condition.CAMERA_LOST, "new"),
                                                        (Condition.CAMERA_LOST, "end")]
    assert calls[0].health_bits == Condition.CAMERA_LOST.bit


def test_close_without_start_is_harmless(knocked: tuple[Reference, list]) -> None:
    HealthWatch(knocked[0], Recorder()).close()


def test_camera_lost_can_be_switched_off_for_a_triggered_station(knocked: tuple[Reference, list]) -> None:
    monitor = HealthMonitor(knocked[0], HealthThresholds(camera_lost_after_s=None))
    monitor.observe_frame(knocked[1][0][1], 0.0)
    assert monitor.tick(3600.0) == [] and monitor.state().health_bits == 0
