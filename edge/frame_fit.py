"""Do the cavity ROIs fit the frames the source really delivers?

station.yaml can only check that an ROI is a rectangle; whether it lies inside the frame depends on
the camera or file. An ROI outside it made every part NO_DECISION while `doctor` said PASS. `doctor`
opens the configured source for one frame; `config check` does the same for the kinds that need no
hardware (file, folder, sim), since it runs before the service starts and a camera may boot later.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.config import CavitySection, SourceSection
from edge.errors import ConfigError
from edge.sources.base import SourceError, SourceLost
from edge.sources.factory import build_source

OFFLINE_KINDS = ("file", "folder", "sim")  # read without a camera; the rest are checked by doctor


def rois_outside_frame(cavities: Sequence[CavitySection], width_px: int, height_px: int) -> list[str]:
    """One line per cavity whose ROI leaves the width x height frame, naming cavity, ROI and frame."""
    problems = []
    for index, cavity in enumerate(cavities):
        x, y, w, h = cavity.roi
        if x + w > width_px or y + h > height_px:
            problems.append(
                f"cavity {cavity.id}: roi {list(cavity.roi)} (cavities[{index}]) reaches "
                f"{x + w}x{y + h}, outside the {width_px}x{height_px} frame; keep x + width <= {width_px} "
                f"and y + height <= {height_px}, or draw it again in the console's ROI editor")
    return problems


def first_frame_size(source: SourceSection) -> tuple[int, int]:
    """(width, height) of the source's first frame; a source that gives none is a ConfigError."""
    where = f"source {source.kind} {source.uri}"
    try:
        src = build_source(source.kind, source.uri)
        src.open()
        try:
            image = src.read()
        finally:
            src.close()
    except (SourceError, SourceLost) as exc:
        raise ConfigError(f"{where}: {exc}; the cavity ROIs cannot be checked without a frame") from None
    if image is None:
        raise ConfigError(f"{where}: no frame to check the cavity ROIs against; check source.uri")
    height, width = image.shape[:2]
    return width, height


def check_rois_offline(source: SourceSection, cavities: Sequence[CavitySection] | None) -> str | None:
    """For `config check`: a ConfigError (all cavities, one line each) when an ROI leaves the frame of an
    offline source; the line to print when they fit; None when there is nothing to check here."""
    if not cavities or source.kind not in OFFLINE_KINDS:
        return None
    width, height = first_frame_size(source)
    problems = rois_outside_frame(cavities, width, height)
    if problems:
        raise ConfigError("\n".join(f"{source.uri}: {p}" for p in problems))
    return f"rois      all {len(cavities)} inside the {width}x{height} frame of {source.uri}"
