"""From the config's `source.kind` and `source.uri` to an opened FrameSource."""

from __future__ import annotations

import threading

from edge.sources.base import FrameSource, SourceError
from edge.sources.folder import FolderSource
from edge.sources.genicam import GenicamSource
from edge.sources.opencv import VideoCaptureSource
from edge.sources.reconnect import Reconnecting, StateCallback
from edge.sources.simulator import SimSource

KINDS = ("camera", "rtsp", "file", "folder", "sim", "genicam")


def build_source(kind: str, uri: str) -> FrameSource:
    """The bare source for a kind, not opened and not wrapped."""
    if kind == "camera":
        return VideoCaptureSource.camera(uri)
    if kind == "rtsp":
        return VideoCaptureSource.stream(uri)
    if kind == "file":
        return VideoCaptureSource.file(uri)
    if kind == "folder":
        return FolderSource(uri)
    if kind == "genicam":
        return GenicamSource(uri)
    if kind == "sim":
        return SimSource(uri)
    raise SourceError(f"unknown source.kind {kind!r}; use one of {', '.join(KINDS)}")


def open_source(
    kind: str,
    uri: str,
    *,
    reconnect_max_s: float,
    stop_event: threading.Event,
    on_state_change: StateCallback | None = None,
) -> FrameSource:
    """Build and open the configured source; live ones come wrapped in `Reconnecting`.

    Raises SourceError (one line with the fix) when it cannot be opened. The caller closes it.
    """
    source = build_source(kind, uri)
    if source.is_live:
        source = Reconnecting(
            source, stop_event, reconnect_max_s=reconnect_max_s, on_state_change=on_state_change
        )
    source.open()
    return source
