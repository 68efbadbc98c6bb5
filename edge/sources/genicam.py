"""GenICam cameras (GigE Vision, USB3 Vision) through a vendor's GenTL producer and `harvesters`.

`harvesters` is an optional extra (pip install 'moldpilot[genicam]'); it is imported in `open()`, so
the rest of the runtime never needs it. The configured uri is the producer's .cti file, optionally
followed by '#' and the camera's serial number when more than one camera is attached:
`/opt/vendor/lib/producer.cti#23456789`.

Run the camera free-running (TriggerMode Off): the runtime takes the latest frame when the PLC
triggers, and a camera that sends nothing for `timeout_s` counts as lost (the reconnect wrapper then
reopens it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.sources.base import SourceError, SourceLost, SourceNotReady

log = logging.getLogger(__name__)

MISSING_EXTRA = "GenICam source needs the optional extra: pip install 'moldpilot[genicam]'"
FETCH_TIMEOUT_S = 3.0

# PFNC pixel format -> (channels in the buffer, cv2 conversion to BGR; None = already BGR, copy it).
# Anything else (Bayer, 10/12-bit packed) must be switched on the camera to one of these.
PIXEL_FORMATS: dict[str, tuple[int, int | None]] = {
    "Mono8": (1, cv2.COLOR_GRAY2BGR),
    "BGR8": (3, None),
    "RGB8": (3, cv2.COLOR_RGB2BGR),
    "BGRa8": (4, cv2.COLOR_BGRA2BGR),
    "RGBa8": (4, cv2.COLOR_RGBA2BGR),
}


def parse_uri(uri: str) -> tuple[Path, str | None]:
    """'producer.cti' or 'producer.cti#SERIAL' -> (cti path, serial number or None)."""
    cti, _, serial = uri.partition("#")
    return Path(cti), (serial or None)


def buffer_to_bgr(data: np.ndarray, width: int, height: int, pixel_format: str) -> np.ndarray:
    """A new BGR image from one GenTL buffer component (a 1-D view the driver reuses after requeue)."""
    if pixel_format not in PIXEL_FORMATS:
        raise SourceError(
            f"GenICam pixel format {pixel_format} is not supported: set PixelFormat on the camera to one "
            f"of {', '.join(PIXEL_FORMATS)}"
        )
    channels, conversion = PIXEL_FORMATS[pixel_format]
    image = data.reshape(height, width, channels)
    # Either branch writes a new array, the one copy needed before the buffer goes back to the driver.
    return image.copy() if conversion is None else cv2.cvtColor(image, conversion)


class GenicamSource:
    """One GenICam camera; a live source, to be wrapped in `Reconnecting`."""

    is_live = True
    frame_count: int | None = None

    def __init__(self, uri: str, *, timeout_s: float = FETCH_TIMEOUT_S) -> None:
        self.cti_path, self.serial_number = parse_uri(uri)
        self.name = f"genicam {self.serial_number or self.cti_path.name}"
        self.fps: float | None = None
        self._timeout_s = timeout_s
        self._harvester: Any = None
        self._acquirer: Any = None

    def open(self) -> None:
        try:
            from harvesters.core import Harvester
        except ImportError:
            raise SourceError(MISSING_EXTRA) from None
        if not self.cti_path.is_file():
            raise SourceError(
                f"GenTL producer not found: {self.cti_path}; point source.uri at the .cti file the camera "
                "vendor's SDK installs"
            )
        harvester = Harvester()
        try:
            harvester.add_file(str(self.cti_path))
            harvester.update()
            search = {"serial_number": self.serial_number} if self.serial_number else None
            acquirer = harvester.create(search)
            acquirer.start()
        except Exception as exc:
            # harvesters reports a missing or busy camera through several genicam exception types
            # (and ValueError/IndexError for no match); all mean the same to the user.
            found = [getattr(info, "serial_number", "?") for info in harvester.device_info_list]
            harvester.reset()
            raise SourceNotReady(
                f"{self.name}: cannot open the camera ({exc}); cameras found: {found or 'none'}; check "
                "the serial number, the cable and that no other program holds the camera"
            ) from None
        self._harvester, self._acquirer = harvester, acquirer
        log.info("%s opened via %s", self.name, self.cti_path)

    def read(self) -> np.ndarray | None:
        if self._acquirer is None:
            raise RuntimeError(f"{self.name}: read() before open()")
        try:
            buffer = self._acquirer.try_fetch(timeout=self._timeout_s)
        except Exception as exc:  # a vanished device surfaces as assorted genicam exceptions
            raise SourceLost(f"{self.name}: {exc}") from exc
        if buffer is None:
            raise SourceLost(f"{self.name}: no image within {self._timeout_s:g} s")
        with buffer:  # leaving the block queues the buffer back to the driver
            component = buffer.payload.components[0]
            return buffer_to_bgr(component.data, component.width, component.height, component.data_format)

    def close(self) -> None:
        steps = []
        if self._acquirer is not None:
            steps += [self._acquirer.stop, self._acquirer.destroy]
        if self._harvester is not None:
            steps.append(self._harvester.reset)  # releases the producer even if the device is gone
        self._acquirer = self._harvester = None
        for step in steps:
            try:
                step()
            except Exception as exc:  # after an unplug, stop/destroy fail on the dead device
                log.debug("%s: %s during close: %s", self.name, step.__name__, exc)
