"""The simulated line the demo runs on: footage with ground truth, the camera's stills, station.yaml.

How a PLC trigger maps to a frame. On the real line the press controller triggers while a shot's
parts dwell in their nests and the camera exposes at that moment. The demo reproduces that without
depending on timing: it writes the footage (MJPG + timeline), decodes the trigger frame of every shot
from the video (the same pixels `moldpilot replay line.avi` judges) and saves them, in shot order, as
the stills a triggered camera would take. The runtime's camera is that folder in triggered mode
(production's commissioning path: each trigger reads the next image), and the virtual PLC triggers
shot 1, 2, 3 ... in order with each shot's first part id. So trigger k is judged on shot k's trigger
frame on any machine, however busy, and the part id in every verdict names the shot whose truth
scores it. A live camera paced in real time would also be honest, but on a busy 2-core machine a late
trigger could pair with a neighbouring frame, and the demo must give the same answer every time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import yaml

from edge.errors import DataError
from sim.footage import FootageSettings, write_footage
from sim.timeline import Timeline

STILL_NAME = "shot-{shot:06d}.png"  # zero-padded: the folder source reads in sorted-name order


def write_line(out_dir: Path, settings: FootageSettings,
               progress: Callable[[int], None] | None = None) -> tuple[Path, Timeline]:
    """Footage out_dir/line.avi (+ timeline) and out_dir/camera/ with one still per shot."""
    footage = out_dir / "line.avi"
    timeline = write_footage(footage, settings, progress)
    write_stills(footage, timeline, out_dir / "camera")
    return footage, timeline


def write_stills(footage: Path, timeline: Timeline, camera_dir: Path) -> None:
    """Decode `footage` once and save each shot's trigger frame as camera_dir/shot-NNNNNN.png."""
    camera_dir.mkdir(parents=True, exist_ok=True)
    for stale in camera_dir.glob("*.png"):  # a smaller run in the same folder must not see old shots
        stale.unlink()
    wanted = {s.trigger_frame: s.shot for s in timeline.shots}
    capture = cv2.VideoCapture(str(footage), cv2.CAP_OPENCV_MJPEG)
    try:
        index = 0
        while wanted:
            ok, image = capture.read()
            if not ok:
                raise DataError(f"{footage} ended at frame {index} before the trigger frames of shots "
                                f"{sorted(wanted.values())}; delete it and run the demo again")
            shot = wanted.pop(index, None)
            if shot is not None:
                cv2.imwrite(str(camera_dir / STILL_NAME.format(shot=shot)), image)
            index += 1
    finally:
        capture.release()


def write_station_yaml(path: Path, *, camera_dir: Path, model: Path, timeline: Timeline, plc_port: Path,
                       broker_port: int, outbox: Path, deadline_ms: float,
                       console_port: int | None = None) -> None:
    """The runtime's station.yaml: triggered folder camera, Modbus RTU on the pty, local broker; with
    `console_port`, the console on 127.0.0.1 there and an NG store beside the report for its gallery."""
    doc = {
        "station": {"site": "demo", "line": "line1", "name": "press1"},
        "source": {"kind": "folder", "uri": str(camera_dir), "mode": "triggered"},
        "model": {"path": str(model)},
        "cavities": [{"id": i + 1, "roi": list(roi)} for i, roi in enumerate(timeline.rois_xywh)],
        "deadline_ms": deadline_ms,
        "plc": {"protocol": "modbus-rtu", "port": str(plc_port), "unit_id": 1},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "outbox": str(outbox)},
        "alerts": {"ng_streak": 3},
    }
    if console_port is not None:
        doc["console"] = {"port": console_port}
        doc["storage"] = {"ng_dir": str(path.parent / "ng"), "quota_mb": 200}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
