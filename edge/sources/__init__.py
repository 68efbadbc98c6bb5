"""Where frames come from: cameras, streams, files, image folders and the simulator.

`open_source(kind, uri, ...)` turns the config's `source` section into an opened FrameSource; the
classes are importable for tests and tools that build one directly.
"""

from edge.sources.base import FrameSource, SourceError, SourceLost
from edge.sources.factory import build_source, open_source
from edge.sources.folder import FolderSource
from edge.sources.genicam import GenicamSource
from edge.sources.opencv import VideoCaptureSource
from edge.sources.reconnect import Reconnecting, ReconnectStats
from edge.sources.simulator import SimSource

__all__ = [
    "FolderSource",
    "FrameSource",
    "GenicamSource",
    "ReconnectStats",
    "Reconnecting",
    "SimSource",
    "SourceError",
    "SourceLost",
    "VideoCaptureSource",
    "build_source",
    "open_source",
]
