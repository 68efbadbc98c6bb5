"""Recording the line: camera frames into an MJPG .avi, triggers into FILE.avi.timeline.json, so
`moldpilot replay FILE.avi` later judges exactly the frames the triggers picked, one verdict per
trigger and cavity, with any model or threshold.

Trigger -> frame: the newest frame captured at or before the trigger (the rule a live triggered
station applies, edge/pipeline/capture.py LatestFrames.for_trigger), or the first frame after it when none was
captured yet. The timeline has the simulator's schema (sim/timeline.py): one shot per trigger (its
trigger frame, and first/dwell frames equal to it, since a recording knows only the trigger), the
trigger's part id for every cavity (as the runtime reports it), cavities from station.yaml or the
whole frame, and no ground truth (label, defect and severity null: nothing is scored).

Pull sources (a file, the simulator) are paced at their frame rate, so the recording behaves like a
camera and `seconds` means seconds of footage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2

from edge.sources.base import FrameSource
from edge.triggers import Trigger, TriggerQueue
from sim.shot import CavityTruth
from sim.timeline import ShotRecord, Timeline, write_timeline

log = logging.getLogger(__name__)

DEFAULT_FPS = 10.0  # a source that does not report its rate (a folder, some USB cameras)
JPEG_QUALITY = 92


class Recorder:
    """Reads `source` until `stop` is set, `seconds` of footage were written or the source ends.

    `on_trigger(trigger, frame_index)` is called for every trigger once its frame is known (the PLC
    link answers there). `frames_written` / `triggers_recorded` may be read from other threads.
    """

    def __init__(self, source: FrameSource, out: Path, triggers: TriggerQueue,
                 cavity_rois_xywh: Sequence[tuple[int, int, int, int]] | None = None,
                 on_trigger: Callable[[Trigger, int], None] | None = None) -> None:
        if out.suffix.lower() != ".avi":
            raise ValueError(f"recordings are MJPG in an AVI container: name the file *.avi, not {out.name}")
        self.source = source
        self.out = out
        self.triggers = triggers
        self.cavity_rois_xywh = cavity_rois_xywh
        self.on_trigger = on_trigger
        self.fps = source.fps or DEFAULT_FPS
        self.frames_written = 0
        self.triggers_recorded = 0
        self._shots: list[tuple[Trigger, int]] = []

    def run(self, stop: threading.Event, seconds: float | None = None) -> Path:
        """Record; returns the timeline path. Triggers still queued at the end get the last frame."""
        self.out.parent.mkdir(parents=True, exist_ok=True)
        writer: cv2.VideoWriter | None = None
        frame_wh = (0, 0)
        last_t_s = -1.0
        t0_s = time.monotonic()
        max_frames = round(seconds * self.fps) if seconds is not None else None
        try:
            while not stop.is_set() and (max_frames is None or self.frames_written < max_frames):
                if not self.source.is_live:  # a file or the simulator plays at its own rate
                    stop.wait(max(0.0, t0_s + self.frames_written / self.fps - time.monotonic()))
                image = self.source.read()
                if image is None:
                    break
                t_s = time.monotonic()
                if writer is None:
                    frame_wh = (image.shape[1], image.shape[0])
                    writer = self._open_writer(frame_wh)
                writer.write(image)
                self.frames_written += 1
                self._take_triggers(t_s)
                last_t_s = t_s
        finally:
            if writer is not None:
                writer.release()
        self.triggers.close()
        self._take_triggers(last_t_s)
        path = write_timeline(self._timeline(frame_wh), self.out)
        log.info("recorded %d frames and %d triggers to %s", self.frames_written, len(self._shots), self.out)
        return path

    def _open_writer(self, frame_wh: tuple[int, int]) -> cv2.VideoWriter:
        writer = cv2.VideoWriter(str(self.out), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                                 self.fps, frame_wh, [cv2.VIDEOWRITER_PROP_QUALITY, JPEG_QUALITY])
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot open {self.out} for writing MJPG")
        log.info("recording %s at %.1f fps, %dx%d", self.out, self.fps, *frame_wh)
        return writer

    def _take_triggers(self, newest_t_s: float) -> None:
        """Pair every queued trigger with its frame: the newest one (index frames_written - 1) if the
        trigger came at or after its capture, else the one before it (the trigger came while this
        frame was being read)."""
        newest = self.frames_written - 1
        while (trigger := self.triggers.get(timeout_s=0)) is not None:
            index = newest if trigger.t_trigger_s >= newest_t_s else max(0, newest - 1)
            if index < 0:  # no frame at all yet: the source ended before its first frame
                log.error("trigger %d came before any frame: not recorded", trigger.seq)
                continue
            self._shots.append((trigger, index))
            log.info("trigger %d (part %s) -> frame %d", trigger.seq, trigger.part_id, index)
            self.triggers_recorded += 1
            if self.on_trigger is not None:
                self.on_trigger(trigger, index)

    def _timeline(self, frame_wh: tuple[int, int]) -> Timeline:
        rois = tuple(tuple(r) for r in self.cavity_rois_xywh or [(0, 0, *frame_wh)])
        shots = []
        for number, (trigger, frame) in enumerate(self._shots, start=1):
            part_id = trigger.part_id if trigger.part_id is not None else trigger.seq
            shots.append(ShotRecord(
                shot=trigger.shot or number, first_frame=frame, dwell_first=frame, dwell_last=frame,
                trigger_frame=frame, part_ids=(part_id,) * len(rois),
                cavities=tuple(CavityTruth(c, part_id, None, None, None, None)
                               for c in range(1, len(rois) + 1))))
        return Timeline(
            video=self.out.name, fps=self.fps, frame_count=self.frames_written, frame_wh=frame_wh,
            cycle_frames=0,  # unknown on a recording: the press sets the rhythm, not the camera
            shape="recorded", seed=0,  # not simulated: no shape, no seed
            rois_xywh=rois, shots=tuple(shots))  # type: ignore[arg-type]

