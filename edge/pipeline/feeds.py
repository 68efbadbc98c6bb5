"""What the inference thread pulls jobs from, one kind per way frames and triggers meet.

`get()` blocks for the next job and returns None when there will be no more. `poll()` returns a job
only if one is ready right now (None otherwise); the loop uses it to micro-batch a backlog, so only the
replay queue answers it: in free-run only the newest frame matters, and in triggered mode a waiting
trigger must not wait for a batch to fill.
"""

from __future__ import annotations

import queue
from typing import Protocol

from edge.pipeline.capture import END, Job, LatestFrames
from edge.triggers import TriggerQueue
from edge.verdict import ErrorCode


class Feed(Protocol):
    def get(self) -> Job | None: ...

    def poll(self) -> Job | None: ...


class QueueFeed:
    """Jobs a reader thread put into a bounded queue (replay, every-frame, pull source on trigger)."""

    def __init__(self, jobs: queue.Queue[Job | None]) -> None:
        self.jobs = jobs
        self._ended = False

    def get(self) -> Job | None:
        if self._ended:
            return None
        job = self.jobs.get()
        self._ended = job is END
        return job

    def poll(self) -> Job | None:
        if self._ended:
            return None
        try:
            job = self.jobs.get_nowait()
        except queue.Empty:
            return None
        self._ended = job is END
        return job


class LatestFeed:
    """Free-run on a live source: always the newest frame (the ring counts what was skipped)."""

    def __init__(self, ring: LatestFrames) -> None:
        self.ring = ring

    def get(self) -> Job | None:
        frame = self.ring.take_new()
        return None if frame is None else Job(None, frame)

    def poll(self) -> Job | None:
        return None


class LiveTriggerFeed:
    """Triggered on a live source: each trigger takes the frame that was current when it fired.

    `max_frame_age_s`: a newest frame older than this at trigger time would show a previous part or a
    stalled camera, so the trigger waits (up to `frame_wait_s`, the deadline) for the next frame instead;
    none coming means NO_FRAME. Ends when the trigger queue is closed and empty.
    """

    def __init__(
        self, triggers: TriggerQueue, ring: LatestFrames, max_frame_age_s: float, frame_wait_s: float
    ) -> None:
        self.triggers = triggers
        self.ring = ring
        self.max_frame_age_s = max_frame_age_s
        self.frame_wait_s = frame_wait_s

    def get(self) -> Job | None:
        trigger = self.triggers.get()
        if trigger is None:
            return None
        frame = self.ring.for_trigger(trigger.t_trigger_s, self.max_frame_age_s, self.frame_wait_s)
        return Job(trigger, frame, ErrorCode.NONE if frame is not None else ErrorCode.NO_FRAME)

    def poll(self) -> Job | None:
        return None
