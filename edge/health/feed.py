"""The health watch's inputs, as a station sink: on its own sink thread, never the inference thread.

Each trigger's verdicts go to the score-drift check; the frame they were judged on goes to the camera
checks, at most once every `sample_s` (the checks cost a few milliseconds of CPU per frame: sampling
keeps the watch's share of a core small at any line speed, and a fault lasts many shots). The frame is
the pipeline's newest judged one (a reference, never written to: the watch copies what it keeps).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from edge.frame import Frame
from edge.health.watch import HealthWatch
from edge.verdict import ErrorCode, Verdict

SAMPLE_S = 1.0  # at most one frame a second to the camera checks (a press cycles every 2 s or more)


class HealthFeed:
    wants_evidence = False

    def __init__(self, watch: HealthWatch, latest_frame: Callable[[], Frame | None],
                 sample_s: float = SAMPLE_S, name: str = "health") -> None:
        self.watch = watch
        self.latest_frame = latest_frame
        self.sample_s = sample_s
        self.name = name
        self._next_sample_s = 0.0

    def open(self) -> None:
        self.watch.start()

    def write(self, verdicts: Sequence[Verdict]) -> None:
        # Parts the fail-safe gate sent NO_DECISION are the watch's own doing: counted in the rising
        # NO_DECISION rate, they would hold a condition up after its cause is gone.
        if not any(v.error_code is ErrorCode.HEALTH_FAULT for v in verdicts):
            self.watch.offer_verdicts(verdicts)
        frame, now_s = self.latest_frame(), time.monotonic()
        if frame is None or frame.frame_id != verdicts[0].frame_id or now_s < self._next_sample_s:
            return  # not this trigger's frame (a later one was judged meanwhile), or sampled recently
        self._next_sample_s = now_s + self.sample_s
        self.watch.offer_frame(frame.image, shot=verdicts[0].shot)

    def close(self) -> None:
        self.watch.close()
