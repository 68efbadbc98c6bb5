"""Camera check: the configured source opens and delivers frames; their size and rate; the cavity ROIs
fit inside them (an ROI outside the frame makes every part NO_DECISION)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from edge.config import CavitySection, SourceSection
from edge.doctor.result import CheckResult, failed, passed
from edge.frame_fit import rois_outside_frame
from edge.sources.base import SourceError, SourceLost
from edge.sources.factory import build_source

NAME = "camera"
FRAMES = 10
TIMEOUT_S = 10.0  # a camera that needs longer than this for 10 frames is not ready for a line

_FIXES = {  # the live kinds, with what to look at when they fail
    "camera": "check the USB cable and `v4l2-ctl --list-devices`; set source.uri to the camera index",
    "rtsp": "open the URL in VLC from this PC; check the camera's IP, user/password and stream path",
    "genicam": "check the GenTL producer (.cti) path and that the camera shows up in the vendor's viewer",
}


def check_camera(source: SourceSection, cavities: Sequence[CavitySection] | None = None) -> CheckResult:
    """The source delivers frames, and every cavity ROI (if configured) lies inside them."""
    fix = _FIXES.get(source.kind, "check source.uri: the file or folder must exist and be readable")
    try:
        frames, elapsed_s, fps = grab_frames(source)
    except (SourceError, SourceLost) as exc:
        return failed(NAME, f"{source.kind} {source.uri}: {exc}", fix)
    except TimeoutError:
        return failed(NAME, f"{source.kind} {source.uri}: no {FRAMES} frames within {TIMEOUT_S:.0f} s", fix)
    if not frames:
        return failed(NAME, f"{source.kind} {source.uri}: opened but delivered no frame", fix)
    height, width = frames[0].shape[:2]
    outside = rois_outside_frame(cavities or [], width, height)
    if outside:
        return failed(NAME, f"{source.kind} {source.uri}: " + "; ".join(outside),
                      "fix the cavities' roi in station.yaml (or the console's ROI editor) for this camera")
    # A live camera's rate is what arrives; a file or simulator is read as fast as it decodes, so only
    # its declared rate means anything.
    live = source.kind in _FIXES
    rate = (f"{len(frames) / elapsed_s:.1f} fps measured" if live and elapsed_s > 0
            else f"{fps:g} fps declared" if fps else "no declared rate")
    return passed(NAME, f"{source.kind} {source.uri}: {len(frames)} frames of {width}x{height}, {rate}")


def grab_frames(source: SourceSection) -> tuple[list[np.ndarray], float, float | None]:
    """Open the bare source (no reconnect wrapper: the doctor reports a loss, it does not wait it out)
    and read up to FRAMES frames on a helper thread, so a hung driver cannot hang the doctor."""
    outcome: dict[str, object] = {}

    def read() -> None:
        try:
            src = build_source(source.kind, source.uri)
            src.open()
            try:
                t0_s, frames = time.monotonic(), []
                while len(frames) < FRAMES and (image := src.read()) is not None:
                    frames.append(image)
                outcome["result"] = (frames, time.monotonic() - t0_s, src.fps)
            finally:
                src.close()
        except Exception as exc:  # handed to the doctor's thread, which reports or re-raises it
            outcome["error"] = exc

    thread = threading.Thread(target=read, name="doctor-camera", daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    if thread.is_alive():
        raise TimeoutError
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
