"""What the console needs from the station, handed in by edge/station.py (the console sits below the
station in the layers, so it never imports it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.config import CavitySection, StationConfig
from edge.console.history import VerdictHistory
from edge.frame import Frame
from edge.verdict import Verdict

if TYPE_CHECKING:  # the teach desk loads scipy: only a station with a teach section imports it
    from edge.teach.desk import TeachDesk
    from edge.teach.review import ReviewDesk

RoiXywh = tuple[int, int, int, int]


@dataclass(frozen=True)
class StationView:
    """One look at the station (`Station.view()`). `latest_frame` is shared, not copied: a frame is
    never written to once read, so a reader may encode it, but must not change it."""

    t_s: float  # time.monotonic() when the view was taken
    latest_frame: Frame | None  # the newest judged frame (the last good one while the camera is lost)
    latest_verdicts: dict[int, Verdict]  # cavity -> its newest verdict
    counters: dict[str, Any]  # the pipeline's snapshot: frames, triggers, verdicts, errors, drops, latency
    plc: dict[str, object] | None  # the PLC link's status (heartbeat, pending results, overrun), if any
    camera: dict[str, Any] | None  # a live source's state and reconnect counters
    mqtt: dict[str, Any] | None  # the publisher's connection and outbox backlog, if a broker is set
    model: dict[str, str]  # name, created, sha256 prefix, execution provider (+ registry version) of recipe 0
    cavities: dict[int, RoiXywh | None]  # cavity -> its ROI in frame pixels (None: the whole frame)
    health: dict[str, Any] | None  # HR 114 bits, raised conditions, each check's figure and bound
    shadow: dict[str, Any] | None = None  # the shadow candidate's counts and agreement (Shadow.view)


@dataclass(frozen=True)
class StationHooks:
    """`view()`: the station's `StationView` (read-only, lock-free); `apply_rois(sections)`: validated
    cavities, applied between batches; `model_crop(image, roi)`: the crop as the model sees it
    (resized, its colour); `config()`: the station's settings now; `config_path`: station.yaml, or None
    when the station runs on built-in settings (replay, demo) and a saved layout lives only in memory.
    Shadow mode (edge/console/shadow.py): `shadow_view()` the candidate's counts and agreement (None:
    off), `start_shadow()` / `stop_shadow()` (start may raise a MoldPilotError that says why); None
    where the station offers no shadow mode. `teach`: the teach page's jobs and folders
    (edge/teach/desk.py), None for no teach page."""

    view: Callable[[], Any]
    apply_rois: Callable[[Sequence[CavitySection]], None]
    model_crop: Callable[[np.ndarray, RoiXywh], np.ndarray]
    config: Callable[[], StationConfig]
    history: VerdictHistory
    config_path: Path | None = None
    shadow_view: Callable[[], dict[str, Any] | None] | None = None
    start_shadow: Callable[[], None] | None = None
    stop_shadow: Callable[[], None] | None = None
    teach: TeachDesk | None = None
    review: ReviewDesk | None = None  # the review queue, labels and collect runs of a `review:` section
    # Model registry (edge/console/models.py): the station's Registry (None: no `registry:` section),
    # and its live promote(version, who) / rollback(who) (edge/pipeline/model_switch.py).
    registry: Any = None
    promote: Callable[[str, str], Any] | None = None
    rollback: Callable[[str], Any] | None = None
