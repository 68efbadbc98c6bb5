"""Cameras, network streams and video files, all read through cv2.VideoCapture.

The three differ only in how they are opened and in what a failed read means: on a live source
(camera, stream) it is a loss worth reconnecting, on a file it is the end. A file that ends before
the frame count its container declares was truncated or corrupted; that is recorded and logged, not
raised, because the frames that did decode are still worth judging.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge.sources.base import SourceError, SourceLost, SourceNotReady

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
STREAM_TIMEOUT_S = 5.0  # open and read: a dead stream is noticed within this, not after FFmpeg's 30 s


class VideoCaptureSource:
    """One cv2.VideoCapture; build it with `camera()`, `stream()` or `file()`.

    After the end of a file: `frames_read` frames decoded, `frame_count` is what the container
    declared (None when it does not say), and `truncated` is True when fewer frames decoded.
    """

    def __init__(
        self,
        name: str,
        target: int | str,
        *,
        is_live: bool,
        api_preference: int,
        params: Sequence[int] = (),
        cannot_open_hint: str,
        required_file: Path | None = None,
    ) -> None:
        self.name = name
        self.is_live = is_live
        self.fps: float | None = None
        self.frame_count: int | None = None
        self.frames_read = 0
        self.truncated = False
        self._target = target
        self._api_preference = api_preference
        self._params = list(params)
        self._cannot_open_hint = cannot_open_hint
        self._required_file = required_file
        self._cap: cv2.VideoCapture | None = None
        # Decode target for frames that still need a colour conversion (mono8, BGRA): only this
        # class reads it, so it is reused; a frame that is already BGR goes to the caller as is.
        self._scratch: np.ndarray | None = None

    @classmethod
    def camera(cls, uri: str) -> VideoCaptureSource:
        """A local camera: an index ("0") or a device path ("/dev/video0")."""
        target: int | str = int(uri) if uri.isdigit() else uri
        if isinstance(target, str) and not Path(target).exists():
            raise SourceError(
                f"camera {uri!r}: expected an index (0, 1, ...) or a device path such as /dev/video0; "
                "list the cameras with 'ls /dev/video*'"
            )
        return cls(
            f"camera {uri}",
            target,
            is_live=True,
            api_preference=cv2.CAP_ANY,
            cannot_open_hint="check the cable and that no other program is using the camera",
        )

    @classmethod
    def stream(cls, url: str, timeout_s: float = STREAM_TIMEOUT_S) -> VideoCaptureSource:
        """An RTSP or HTTP (MJPEG) stream, read with FFmpeg and bounded open/read timeouts."""
        if not url.startswith(STREAM_SCHEMES):
            raise SourceError(f"stream {url!r}: the URL must start with one of {', '.join(STREAM_SCHEMES)}")
        timeout_ms = int(timeout_s * 1000)
        return cls(
            f"stream {url}",
            url,
            is_live=True,
            api_preference=cv2.CAP_FFMPEG,
            params=(cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms),
            cannot_open_hint="check the URL, the camera's network link and its stream settings",
        )

    @classmethod
    def file(cls, path: str | Path) -> VideoCaptureSource:
        """A video file, read once from start to end."""
        path = Path(path)
        return cls(
            f"file {path.name}",
            str(path),
            is_live=False,
            api_preference=cv2.CAP_FFMPEG,
            cannot_open_hint="wrong format or corrupt; check it plays in a video player, or re-export it",
            required_file=path,
        )

    def open(self) -> None:
        if self._required_file is not None and not self._required_file.is_file():
            raise SourceError(f"video file not found: {self._required_file}; check source.uri")
        cap = cv2.VideoCapture(self._target, self._api_preference, self._params)
        if not cap.isOpened():
            cap.release()
            if self._required_file is not None:
                raise SourceError(f"not a readable video: {self._required_file}; {self._cannot_open_hint}")
            raise SourceNotReady(f"{self.name}: cannot be opened; {self._cannot_open_hint}")
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps > 0 else None
        # Streams report a nonsense count (negative or 0); only a file's count means anything.
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if not self.is_live and count > 0 else None
        self.frames_read = 0
        self.truncated = False
        log.info("%s opened (%s fps)", self.name, f"{self.fps:g}" if self.fps else "unknown")

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise RuntimeError(f"{self.name}: read() before open()")
        ok, raw = self._cap.read(self._scratch)
        if not ok or raw is None:
            if self.is_live:
                raise SourceLost(f"{self.name}: no frame (disconnected or stream ended)")
            self._note_end()
            return None
        self.frames_read += 1
        if raw.ndim == 3 and raw.shape[2] == 3:
            self._scratch = None  # handed to the caller: the next frame must go into a new array
            return raw
        self._scratch = raw
        return to_bgr(raw)

    def _note_end(self) -> None:
        if self.truncated or self.frame_count is None or self.frames_read >= self.frame_count:
            return
        self.truncated = True
        log.warning(
            "%s ended after %d of the %d frames its container declares: the file is truncated or corrupt",
            self.name,
            self.frames_read,
            self.frame_count,
        )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._scratch = None


def to_bgr(image: np.ndarray) -> np.ndarray:
    """A new H x W x 3 uint8 BGR array from a mono (H x W or H x W x 1) or BGRA 8-bit image."""
    if image.dtype != np.uint8:
        raise SourceError(
            f"unsupported pixel type {image.dtype}: set the camera to an 8-bit format (Mono8 or BGR8)"
        )
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if channels == 3:
        return image.copy()
    raise SourceError(f"unsupported image with {channels} channels: expected mono, BGR or BGRA")
