"""The sidecar of a footage file, FILE.timeline.json: frames, nests and ground truth per shot.

Schema "moldpilot.timeline/1" (frames are 0-based video frame indexes, boxes [x, y, w, h] in frame
pixels, cavities 1-based):

    {"schema": "moldpilot.timeline/1", "video": "line.avi", "fourcc": "MJPG", "fps": 10.0,
     "frame_count": 400, "frame_wh": [400, 400], "cycle_frames": 20, "shape": "gear", "seed": 7,
     "cavities": [{"id": 1, "roi_xywh": [32, 32, 160, 160]}, ...],
     "shots": [{"shot": 1, "first_frame": 0, "trigger_frame": 10,
                "dwell_frames": {"first": 6, "last": 15}, "part_ids": [1, 2, 3, 4],
                "cavities": [{"id": 1, "part_id": 1, "label": "ng", "defect": "flash",
                              "severity": 0.42, "bbox_xywh": [150, 60, 30, 41]},
                             {"id": 2, "part_id": 2, "label": "ok", "defect": null,
                              "severity": 0.0, "bbox_xywh": null}, ...]}, ...],
     "faults": [{"kind": "camera-shift", "first_shot": 40, "last_shot": null, "severity": 12.0}, ...]}

"faults" (sim.faults: the camera faults rendered into the footage, shots 1-based and inclusive, null =
to the end) is written only when the footage has faults, so fault-free sidecars keep the bytes they had
before faults existed; a timeline without it loads with no faults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sim.faults import Fault
from sim.shot import CavityTruth

TIMELINE_SCHEMA = "moldpilot.timeline/1"


@dataclass(frozen=True)
class ShotRecord:
    """One shot in the timeline; frames are 0-based video frame indexes, bboxes in frame pixels."""

    shot: int  # 1-based
    first_frame: int
    dwell_first: int
    dwell_last: int
    trigger_frame: int
    part_ids: tuple[int, ...]
    cavities: tuple[CavityTruth, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "shot": self.shot,
            "first_frame": self.first_frame,
            "trigger_frame": self.trigger_frame,
            "dwell_frames": {"first": self.dwell_first, "last": self.dwell_last},
            "part_ids": list(self.part_ids),
            "cavities": [c.to_json() for c in self.cavities],
        }


@dataclass(frozen=True)
class Timeline:
    """The sidecar of a footage file: everything a replay source and a scorer need."""

    video: str
    fps: float
    frame_count: int
    frame_wh: tuple[int, int]
    cycle_frames: int
    shape: str
    seed: int
    rois_xywh: tuple[tuple[int, int, int, int], ...]  # cavity i at index i-1
    shots: tuple[ShotRecord, ...]
    faults: tuple[Fault, ...] = ()

    def faults_at(self, shot: int) -> tuple[Fault, ...]:
        """The faults active during 1-based `shot`."""
        return tuple(f for f in self.faults if f.active(shot))

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "schema": TIMELINE_SCHEMA,
            "video": self.video,
            "fourcc": "MJPG",
            "fps": self.fps,
            "frame_count": self.frame_count,
            "frame_wh": list(self.frame_wh),
            "cycle_frames": self.cycle_frames,
            "shape": self.shape,
            "seed": self.seed,
            "cavities": [{"id": i + 1, "roi_xywh": list(r)} for i, r in enumerate(self.rois_xywh)],
            "shots": [s.to_json() for s in self.shots],
        }
        if self.faults:
            doc["faults"] = [f.to_json() for f in self.faults]
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Timeline:
        if doc.get("schema") != TIMELINE_SCHEMA:
            raise ValueError(f"not a {TIMELINE_SCHEMA} document (schema: {doc.get('schema')!r})")
        d: dict = dict(doc)
        shots = tuple(
            ShotRecord(
                s["shot"],
                s["first_frame"],
                s["dwell_frames"]["first"],
                s["dwell_frames"]["last"],
                s["trigger_frame"],
                tuple(s["part_ids"]),
                tuple(
                    CavityTruth(
                        c["id"],
                        c["part_id"],
                        c["label"],
                        c["defect"],
                        c["severity"],
                        tuple(c["bbox_xywh"]) if c["bbox_xywh"] else None,
                    )
                    for c in s["cavities"]
                ),
            )
            for s in d["shots"]
        )
        rois = tuple(tuple(c["roi_xywh"]) for c in sorted(d["cavities"], key=lambda c: c["id"]))
        return cls(
            d["video"],
            d["fps"],
            d["frame_count"],
            tuple(d["frame_wh"]),
            d["cycle_frames"],
            d["shape"],
            d["seed"],
            rois,
            shots,
            tuple(Fault.from_json(f) for f in d.get("faults", [])),
        )


class TimelineError(ValueError):
    """A timeline file that cannot be used; the message names the file and what is wrong."""


def timeline_path(video: str | Path) -> Path:
    """Where the timeline of `video` lives: FILE.timeline.json beside it (or `video` itself when it
    already names a timeline, a .json file)."""
    video = Path(video)
    return video if video.suffix == ".json" else Path(f"{video}.timeline.json")


def read_timeline(path: str | Path) -> Timeline:
    """The timeline of a video (or at a .timeline.json path); TimelineError if it cannot be used."""
    path = timeline_path(path)
    try:
        return Timeline.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TimelineError(f"timeline {path} cannot be used ({type(exc).__name__}: {exc}); re-record the "
                            "footage with 'moldpilot sim footage' or 'moldpilot record'") from None


def load_timeline(footage: str | Path, explicit_path: str | Path | None = None) -> Timeline | None:
    """The footage's timeline: `explicit_path`, else FILE.timeline.json beside it if present (None if
    there is none: live footage that nobody recorded triggers for)."""
    if explicit_path is None and not timeline_path(footage).is_file():
        return None
    return read_timeline(explicit_path or footage)


def write_timeline(timeline: Timeline, video: str | Path) -> Path:
    """Write the timeline beside `video`; returns its path."""
    path = timeline_path(video)
    path.write_text(json.dumps(timeline.to_json(), indent=1) + "\n", encoding="utf-8")
    return path
