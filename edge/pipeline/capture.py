"""Capture: reading a source on its own thread, under a named backpressure policy.

- LATEST (a live camera or stream, free-run or triggered): the camera does not wait for us, so frames
  go into a short ring and the newest wins. In free-run every frame that was overwritten or skipped
  before the inference thread took it is counted in `dropped`. In triggered mode a trigger takes the
  newest frame captured at or before it (`LatestFrames.for_trigger`); frames no trigger asked for are
  not "dropped", just not needed.
- BLOCKING (a file, folder or simulator: replay, every-frame, pull-source free-run): every frame is read
  and queued in a bounded queue whose `put` waits, so nothing is ever dropped and the result is the same
  on a fast and a slow machine.
- Pull sources in triggered mode (a folder of images at commissioning) read the next image on each
  trigger, so a trigger sequence maps to known images.

Each reader thread puts `Job`s into the bounded job queue and `END` when it is done; the inference
thread (edge/pipeline/loop.py) consumes them. The ring and the queue are the only things shared.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.frame import Frame
from edge.sources.base import FrameSource
from edge.triggers import Trigger, TriggerQueue
from edge.verdict import ErrorCode
from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)

END = None  # sentinel in the job queue: the reader is done, no more jobs will come
FrameOf = Callable[[Trigger], "int | None"]  # the recording's frame a trigger belongs to; None: no shot


@dataclass(slots=True)
class Job:
    """One unit of work for the inference thread: a trigger with its frame, or a frame on its own
    (free-run / every-frame: the frame is its own trigger). `frame` None means no frame could be had
    for the trigger, and `error_code` says why."""

    trigger: Trigger | None
    frame: Frame | None
    error_code: ErrorCode = ErrorCode.NONE

    @property
    def t_trigger_s(self) -> float:
        if self.trigger is not None:
            return self.trigger.t_trigger_s
        assert self.frame is not None, "a Job needs a trigger or a frame"
        return self.frame.t_capture

    @property
    def seq(self) -> int:
        if self.trigger is not None:
            return self.trigger.seq
        assert self.frame is not None, "a Job needs a trigger or a frame"
        return self.frame.frame_id

    @property
    def recipe_id(self) -> int | None:
        """The PLC's RECIPE_ID for this trigger; None without one (free-run, replay, ASCII link)."""
        return self.trigger.recipe_id if self.trigger is not None else None


class LatestFrames:
    """The LATEST policy: a ring of the last `depth` frames, written by the capture thread."""

    def __init__(self, depth: int = 4) -> None:
        self._ring: deque[Frame] = deque(maxlen=depth)
        self._cond = threading.Condition()
        self._closed = False
        self._last_taken_id = -1
        self.dropped = 0  # free-run: frames never taken by the inference thread

    def put(self, frame: Frame) -> None:
        with self._cond:
            self._ring.append(frame)
            self._cond.notify_all()

    def take_new(self, timeout_s: float | None = None) -> Frame | None:
        """Free-run: the newest frame not yet taken; None once closed (or on timeout) with none new."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._newest_id() > self._last_taken_id, timeout_s)
            if self._newest_id() <= self._last_taken_id:
                return None
            frame = self._ring[-1]
            self.dropped += frame.frame_id - self._last_taken_id - 1
            self._last_taken_id = frame.frame_id
            return frame

    def for_trigger(self, t_trigger_s: float, max_age_s: float, timeout_s: float) -> Frame | None:
        """Triggered: the newest frame captured at or before the trigger, if it is at most `max_age_s`
        older than the trigger; otherwise the first frame captured after the trigger, waiting up to
        `timeout_s` for it (camera just started or stalled). None if no such frame came."""

        def pick() -> Frame | None:
            before = [f for f in self._ring if f.t_capture <= t_trigger_s]
            if before and t_trigger_s - before[-1].t_capture <= max_age_s:
                return before[-1]
            return next((f for f in self._ring if f.t_capture > t_trigger_s), None)

        with self._cond:
            self._cond.wait_for(lambda: self._closed or pick() is not None, timeout_s)
            return pick()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _newest_id(self) -> int:
        return self._ring[-1].frame_id if self._ring else -1


class Reader:
    """Reads `source` on a named thread; subclasses decide what becomes of each frame.

    `stop()` asks the thread to finish after the frame it is reading (a source must return from
    `read()` in bounded time; the reconnect wrapper watches the same stop event). `frames_in` counts
    every frame read (written only by the reader thread; others read it for reports). `pace_fps` (replay at
    real-time speed) spaces reads 1/fps apart.
    """

    def __init__(
        self,
        source: FrameSource,
        name: str,
        pace_fps: float | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.pace_fps = pace_fps
        # Shared with a reconnect wrapper around a live source, so stop() also ends its waiting.
        self.stop_event = stop_event or threading.Event()
        self.frames_in = 0
        self.triggers_unmatched = 0  # triggers of a recording that found no frame of their shot
        self.source_error: str | None = None
        self._thread = threading.Thread(target=self._guarded_run, name=name, daemon=True)
        self._t0_s = 0.0

    def start(self) -> None:
        self._t0_s = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout_s: float | None = None) -> bool:
        if self._thread.ident is None:  # never started (start-up failed)
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def read_frame(self, stoppable: bool = True) -> Frame | None:
        """The next frame, or None at the end of the source, on a source failure, or (if `stoppable`)
        once stop was asked for."""
        if self.pace_fps:
            due_s = self._t0_s + self.frames_in / self.pace_fps
            if self.stop_event.wait(max(0.0, due_s - time.monotonic())) and stoppable:
                return None
        if stoppable and self.stop_event.is_set():
            return None
        try:
            image = self.source.read()
        except Exception as exc:  # a lost live source the reconnect wrapper gave up on, a broken file
            self.source_error = f"{type(exc).__name__}: {exc}"
            log.error("source %s failed after %d frames: %s", self.source.name, self.frames_in, exc)
            return None
        if image is None:
            return None
        frame = Frame(image, frame_id=self.frames_in, t_capture=time.monotonic())
        self.frames_in += 1
        return frame

    def _guarded_run(self) -> None:
        try:
            self.run()
        except Exception:  # a bug: say so loudly, then let finish() unblock the inference thread
            log.exception("capture thread failed")
        finally:
            self.finish()

    def run(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Called once on the reader thread when it ends: tell the consumer."""
        raise NotImplementedError


class LiveReader(Reader):
    """LATEST: every frame into the ring, for free-run and for triggered on a live source."""

    def __init__(
        self, source: FrameSource, ring: LatestFrames, stop_event: threading.Event | None = None
    ) -> None:
        super().__init__(source, "capture-live", stop_event=stop_event)
        self.ring = ring

    def run(self) -> None:
        while (frame := self.read_frame()) is not None:
            self.ring.put(frame)

    def finish(self) -> None:
        self.ring.close()


class QueueReader(Reader):
    """BLOCKING: reads every frame; `select(frame)` names the jobs it makes (every-frame: the frame
    itself; timeline replay: the triggers recorded at that frame). At the end, `leftover()` names jobs
    that never got a frame (a truncated file), which still need their verdict."""

    def __init__(
        self,
        source: FrameSource,
        jobs: queue.Queue[Job | None],
        select: Callable[[Frame], Iterable[Job]],
        leftover: Callable[[], Iterable[Job]] = tuple,
        pace_fps: float | None = None,
    ) -> None:
        super().__init__(source, "capture-replay", pace_fps)
        self.jobs = jobs
        self.select = select
        self.leftover = leftover

    def run(self) -> None:
        while (frame := self.read_frame()) is not None:
            for job in self.select(frame):
                self.jobs.put(job)  # blocks while the inference thread is behind: nothing dropped

    def finish(self) -> None:
        for job in self.leftover():
            self.jobs.put(job)
        self.jobs.put(END)


class TriggeredPullReader(Reader):
    """A pull source in triggered mode. Runs until the trigger queue is closed and empty.

    Without `frame_of` each trigger reads the next image (a folder of part photos, one per trigger).
    With it (a recording with its timeline, edge/pipeline/build.py `timeline_frames`), each trigger is
    judged on the frame its shot was triggered at: frames in between are skipped, a trigger repeated
    for the same shot gets the same frame, and a trigger that names no shot of the recording, or
    comes after a later shot was read, gets NO_FRAME and is counted in `triggers_unmatched`. A trigger
    that finds the source exhausted gets NO_FRAME."""

    def __init__(self, source: FrameSource, triggers: TriggerQueue, jobs: queue.Queue[Job | None],
                 frame_of: FrameOf | None = None) -> None:
        super().__init__(source, "capture-on-trigger")
        self.triggers = triggers
        self.jobs = jobs
        self.frame_of = frame_of
        self._last: Frame | None = None

    def run(self) -> None:
        # Stop is ignored between triggers on purpose: the ones already accepted must be answered.
        while (trigger := self.triggers.get()) is not None:
            frame = self._frame_for(trigger)
            self.jobs.put(Job(trigger, frame, ErrorCode.NONE if frame else ErrorCode.NO_FRAME))

    def _frame_for(self, trigger: Trigger) -> Frame | None:
        if self.frame_of is None:
            return None if self.source_error else self.read_frame(stoppable=False)
        index = self.frame_of(trigger)
        while index is not None and not self.source_error and (self._last is None or
                                                                self._last.frame_id < index):
            if (frame := self.read_frame(stoppable=False)) is None:
                return None  # the recording ends before the shot: NO_FRAME (a truncated file)
            self._last = frame
        if index is not None and self._last is not None and self._last.frame_id == index:
            return self._last
        self.triggers_unmatched += 1
        if worth_logging(self.triggers_unmatched):
            read = self._last.frame_id if self._last else "-"
            why = ("names no shot of the recording" if index is None
                   else f"wants frame {index}, after frame {read} was read")
            log.warning("trigger %d (part %s, shot %s) %s: answered NO_FRAME (%d such triggers so far)",
                        trigger.seq, trigger.part_id, trigger.shot, why, self.triggers_unmatched)
        return None

    def finish(self) -> None:
        self.jobs.put(END)
