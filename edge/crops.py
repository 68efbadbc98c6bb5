"""Cavity crops from footage: training data of your own mold, cut where the line judges its parts.

`moldpilot crops FOOTAGE --out DIR` reads the footage's timeline (FILE.avi.timeline.json, written by
`moldpilot record` on the line or `moldpilot sim footage`), takes each shot's trigger frame (the frame
the station judged) and cuts every cavity's ROI out of it, unscaled: `moldpilot train` resizes each
crop to the model input with the card's interpolation, as the runtime does with the ROI it cuts.

Where the crops go (file names `<footage stem>_shot<NNNNN>_cav<N>.png`, so several recordings can
fill one folder; an existing file is never overwritten):
- footage with ground truth (the simulator): `DIR/ok/` or `DIR/<defect>/`, and a row each in
  `DIR/labels.csv` (the defect's box in crop pixels), the layout of `moldpilot sim dataset`;
- a recording of the line (no truth): `DIR/unsorted/`. Look through them, move the good parts into
  `DIR/ok/` (and any defective ones into a folder named after the defect), then train.

`shots=(first, last)` keeps a range of shots (1-based, inclusive), e.g. train on the first 150 shots
of a recording and evaluate on the rest. A trigger frame the video does not hold (a truncated file) is
counted in `missing_frames` and logged, never a crash.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import DataError
from edge.pipeline.recipes import RoiXywh
from sim.dataset import PNG_PARAMS, LabelRow, write_labels
from sim.shot import CavityTruth
from sim.timeline import ShotRecord, Timeline

log = logging.getLogger(__name__)

UNSORTED = "unsorted"


@dataclass(frozen=True)
class CropSummary:
    counts: Counter[str]  # crops written per folder
    missing_frames: int  # shots whose trigger frame the video does not hold
    labelled: bool  # True when the timeline has ground truth (labels.csv written)


def chosen_shots(timeline: Timeline, shots: tuple[int, int] | None) -> list[ShotRecord]:
    """The timeline's shots numbered `shots` (first, last), inclusive; all of them for None."""
    return [s for s in timeline.shots if shots is None or shots[0] <= s.shot <= shots[1]]


def write_crops(
    footage: Path,
    timeline: Timeline,
    out_dir: Path,
    rois_xywh: Sequence[RoiXywh] | None = None,
    shots: tuple[int, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> CropSummary:
    """One PNG per shot and cavity of `footage` into `out_dir` (see the module docstring). `rois_xywh`
    (cavity i at index i-1, e.g. from station.yaml) replaces the timeline's cavities. `progress(1)` is
    called after each shot's crops are written."""
    chosen = chosen_shots(timeline, shots)
    if not timeline.shots:
        raise DataError(f"{footage}: its timeline has no shots (no trigger was recorded); record again "
                        "with triggers (a PLC link, --stdin-triggers or SIGUSR1)")
    if not chosen:
        assert shots is not None  # without a range every shot is chosen
        raise DataError(f"{footage}: no shot in {shots[0]}:{shots[1]}; its timeline has shots "
                        f"{timeline.shots[0].shot} to {timeline.shots[-1].shot}")
    rois = tuple(rois_xywh or timeline.rois_xywh)
    _check_rois(rois, timeline.frame_wh)
    by_frame: dict[int, list[ShotRecord]] = {}
    for shot in chosen:
        by_frame.setdefault(shot.trigger_frame, []).append(shot)
    # Ground truth only when every cavity of every chosen shot has it; otherwise all go to UNSORTED.
    labelled = all(c.label is not None for s in chosen for c in s.cavities)
    targets = {s.shot: _targets(s, len(rois), out_dir, Path(footage).stem, labelled) for s in chosen}
    existing = [path for shot in targets.values() for path, _ in shot if path.exists()]
    if existing:
        raise DataError(f"{existing[0]} already exists ({len(existing)} crop(s) of these shots do); write "
                        "the crops of this footage to another folder, or choose other --shots")
    counts: Counter[str] = Counter()
    rows: list[LabelRow] = []
    for frame, shots_here in _trigger_frames(footage, timeline, by_frame):
        for shot in shots_here:
            rows += _write_shot(frame, targets[shot.shot], rois, timeline.shape, counts)
            if progress:
                progress(1)
    missing = sum(len(v) for v in by_frame.values())
    if missing:
        log.warning("%s ends early: %d shot(s) have no trigger frame and gave no crops", footage, missing)
    if labelled and rows:
        write_labels(out_dir, rows, append=True)
    return CropSummary(counts, missing, labelled)


def _trigger_frames(footage: Path, timeline: Timeline,
                    by_frame: dict[int, list[ShotRecord]]) -> Iterator[tuple[np.ndarray, list[ShotRecord]]]:
    """Each trigger frame of `footage` with its shots, popped from `by_frame` (what is left there when
    the video ends early had no frame). Frames in between are grabbed, not decoded."""
    cap = cv2.VideoCapture(str(footage), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise DataError(f"{footage}: cannot be opened as a video (missing, or not MJPG/AVI); "
                        "check the path, or re-record it with 'moldpilot record'")
    try:
        for index in range(max(by_frame) + 1):
            if index not in by_frame:
                if not cap.grab():
                    return
                continue
            ok, frame = cap.read()
            if not ok:
                return
            if (frame.shape[1], frame.shape[0]) != tuple(timeline.frame_wh):
                raise DataError(f"{footage}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, its "
                                f"timeline says {timeline.frame_wh[0]}x{timeline.frame_wh[1]}; the "
                                "timeline belongs to another video")
            yield frame, by_frame.pop(index)
    finally:
        cap.release()


def _check_rois(rois: Sequence[RoiXywh], frame_wh: tuple[int, int]) -> None:
    width, height = frame_wh
    for cavity, (x, y, w, h) in enumerate(rois, start=1):
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > width or y + h > height:
            raise DataError(f"cavity {cavity} ROI [{x}, {y}, {w}, {h}] does not fit the {width}x{height} "
                            "frames of this footage; fix the cavity's roi in station.yaml")


def _targets(shot: ShotRecord, n_cavities: int, out_dir: Path, stem: str,
             labelled: bool) -> list[tuple[Path, CavityTruth | None]]:
    """Per cavity of `shot`: the file its crop goes to, and its ground truth (None when unlabelled)."""
    truths = {c.cavity: c for c in shot.cavities} if labelled else {}
    out = []
    for cavity in range(1, n_cavities + 1):
        truth = truths.get(cavity)
        folder = UNSORTED if truth is None else "ok" if truth.label == "ok" else (truth.defect or "ng")
        out.append((out_dir / folder / f"{stem}_shot{shot.shot:05d}_cav{cavity}.png", truth))
    return out


def _write_shot(frame: np.ndarray, targets: list[tuple[Path, CavityTruth | None]], rois: Sequence[RoiXywh],
                shape: str, counts: Counter[str]) -> list[LabelRow]:
    """The crops of one shot; labels.csv rows for those with ground truth."""
    rows = []
    for (path, truth), (x, y, w, h) in zip(targets, rois, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", frame[y:y + h, x:x + w], PNG_PARAMS)
        if not ok:
            raise DataError(f"PNG encoding failed for {path}")
        path.write_bytes(png.tobytes())
        counts[path.parent.name] += 1
        if truth is not None:
            rows.append(LabelRow(f"{path.parent.name}/{path.name}", truth.label, truth.defect, truth.severity,
                                 _box_in_crop(truth.bbox_xywh, (x, y, w, h)), shape))  # type: ignore[arg-type]
    return rows


def _box_in_crop(box: RoiXywh | None, roi: RoiXywh) -> RoiXywh | None:
    """A frame-pixel box in the coordinates of the crop `roi`, clipped to it; None if outside."""
    if box is None:
        return None
    x0, y0 = max(box[0], roi[0]), max(box[1], roi[1])
    x1, y1 = min(box[0] + box[2], roi[0] + roi[2]), min(box[1] + box[3], roi[1] + roi[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return x0 - roi[0], y0 - roi[1], x1 - x0, y1 - y0
