"""Footage of the line: a camera over a K-nest fixture, one mold shot per cycle, as an MJPG .avi.

Each cycle of `cycle_s` seconds: the shot's parts slide in from the left (first ~30 % of the cycle),
dwell in their nests (~50 %; the PLC trigger is the middle dwell frame), slide out to the right (~12 %),
and the empty fixture shows for the rest. A sidecar FILE.timeline.json (schema in sim.timeline) holds
the frame rate, the nests' ROIs and per shot the frames, the part ids and the ground truth per cavity,
and the camera faults rendered into the footage (sim.faults), if any.

Determinism: every shot draws from Generator([seed, 1, shot]) and every frame's sensor noise from
Generator([seed, 2, frame]); the video is written by OpenCV's built-in MJPEG/AVI muxer
(cv2.CAP_OPENCV_MJPEG), which writes no timestamps or encoder ids, so the same settings give the same
bytes. (The FFmpeg backend would also be readable but ignores the quality setting.)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from sim.faults import CameraFaults, Fault, Mold, changed_mold
from sim.parts import SHAPES, Shape, sample_design
from sim.render import PartLayer, composite, expose, fixture_background, nest_background, render_layer
from sim.shot import (
    CAVITY_COUNTS,
    GridLayout,
    LightingDrift,
    grid_layout,
    sample_color,
    sample_part,
    sample_shape,
    truth_of,
)
from sim.timeline import ShotRecord, Timeline, write_timeline

ARRIVE_FRACTION, DWELL_FRACTION, LEAVE_FRACTION = 0.30, 0.50, 0.12
_PLATE_GREY = 0.36


@dataclass(frozen=True)
class FootageSettings:
    """What to record. `shape` None: one shape chosen by the seed; "mixed": a family mold, one shape
    per cavity. `cavity_defect_rates` overrides `defect_rate` for the given 1-based cavities.
    `mold_seed`: the mold (design and resin colour) from this seed instead of `seed`, so recordings of
    different days show the same mold with other parts (teaching a mold, then judging it afresh)."""

    shots: int
    seed: int
    cavities: int = 4
    fps: float = 10.0
    cycle_s: float = 2.0
    shape: Shape | Literal["mixed"] | None = None
    defect_rate: float = 0.1
    cavity_defect_rates: Mapping[int, float] = field(default_factory=dict)
    cell_px: int = 160
    jpeg_quality: int = 92
    faults: tuple[Fault, ...] = ()
    mold_seed: int | None = None

    def __post_init__(self) -> None:
        if self.shots < 1:
            raise ValueError(f"shots must be >= 1, got {self.shots}")
        if self.cavities not in CAVITY_COUNTS:
            raise ValueError(f"cavities must be one of {CAVITY_COUNTS}, got {self.cavities}")
        if round(self.fps * self.cycle_s) < 4:
            raise ValueError(f"a cycle needs >= 4 frames; fps {self.fps} x cycle_s {self.cycle_s} is too few")
        for rate in (self.defect_rate, *self.cavity_defect_rates.values()):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"defect rate must be in [0, 1], got {rate}")
        for cavity in self.cavity_defect_rates:
            if not 1 <= cavity <= self.cavities:
                raise ValueError(
                    f"cavity {cavity} has a defect rate but the mold has {self.cavities} cavities"
                )

        for fault in self.faults:
            if fault.first_shot > self.shots:
                raise ValueError(f"fault {fault.kind} starts at shot {fault.first_shot} but the footage has "
                                 f"{self.shots} shots")

    def rate_of(self, cavity: int) -> float:
        return self.cavity_defect_rates.get(cavity, self.defect_rate)


@dataclass
class _Shot:
    record: ShotRecord
    layers: list[PartLayer]


def _ease(p: float) -> float:
    """0 -> 1 with a smooth start and stop, as a pick-and-place or a conveyor moves."""
    return float(0.5 - 0.5 * np.cos(np.pi * p))


class FootagePlan:
    """Everything about a recording except the pixels of its frames, which `frame()` renders on demand."""

    def __init__(self, settings: FootageSettings) -> None:
        self.settings = settings
        s = settings
        self.layout: GridLayout = grid_layout(s.cavities, s.cell_px)
        self.cycle_frames = round(s.fps * s.cycle_s)
        n = self.cycle_frames
        self.arrive_frames = max(1, round(ARRIVE_FRACTION * n))
        self.dwell_frames = max(1, round(DWELL_FRACTION * n))
        self.leave_frames = max(1, min(round(LEAVE_FRACTION * n), n - self.arrive_frames - self.dwell_frames))
        self.frame_count = s.shots * n
        rng = np.random.default_rng([s.seed, 0])
        # One mold for the whole recording: shape(s), design and resin colour are fixed.
        mold_rng = rng if s.mold_seed is None else np.random.default_rng([s.mold_seed, 0])
        line_shape = sample_shape(mold_rng, "mixed") if s.shape is None else s.shape
        shapes = [SHAPES[i % len(SHAPES)] if line_shape == "mixed" else line_shape for i in range(s.cavities)]
        self.shape = line_shape
        self.mold = Mold(tuple(sample_design(shape, mold_rng) for shape in shapes),
                         sample_color(mold_rng, line_shape))
        self.drift = LightingDrift.sample(rng)
        w, h = self.layout.frame_wh
        self.plate = fixture_background(h, w, rng, grey=_PLATE_GREY)
        for x, y, cw, ch in self.layout.rois_xywh:
            self.plate[y : y + ch, x : x + cw] = nest_background(s.cell_px, rng)
        self.camera_faults = CameraFaults(s.faults, s.seed, self.layout.frame_wh)
        # A mold change draws its new mold from the fault's own stream (see sim.faults).
        self._fault_molds = [
            (f, changed_mold(self.mold, f.severity, np.random.default_rng([s.seed, 3, i])))
            for i, f in enumerate(s.faults)
            if f.kind == "mold-change"
        ]
        self._cached: tuple[int, _Shot] | None = None
        self._records: dict[int, ShotRecord] = {}

    def shot(self, index: int) -> _Shot:
        """Shot `index` (0-based): its timeline record and its shaded parts (the last one is cached)."""
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        s = self.settings
        rng = np.random.default_rng([s.seed, 1, index])
        first = index * self.cycle_frames
        dwell_first = first + self.arrive_frames
        trigger = dwell_first + (self.dwell_frames - 1) // 2
        lighting = self.drift.at(trigger / s.fps)
        mold = self.mold_at(index + 1)
        layers, truths, part_ids = [], [], []
        for c, (x, y, cw, ch) in enumerate(self.layout.rois_xywh):
            cavity, part_id = c + 1, index * s.cavities + c + 1
            spec = sample_part(rng, mold.designs[c], s.cell_px, mold.color_bgr, lighting, s.rate_of(cavity))
            layer, bbox = render_layer(spec, self.plate[y : y + ch, x : x + cw])
            frame_bbox = (bbox[0] + x, bbox[1] + y, bbox[2], bbox[3]) if bbox else None
            layers.append(layer)
            truths.append(truth_of(spec, cavity, part_id, frame_bbox))
            part_ids.append(part_id)
        record = ShotRecord(
            index + 1,
            first,
            dwell_first,
            dwell_first + self.dwell_frames - 1,
            trigger,
            tuple(part_ids),
            tuple(truths),
        )
        self._records[index] = record
        self._cached = (index, _Shot(record, layers))
        return self._cached[1]

    def mold_at(self, shot: int) -> Mold:
        """The mold in the fixture during 1-based `shot`: the latest active mold change's, else the line's."""
        active = [mold for fault, mold in self._fault_molds if fault.active(shot)]
        return active[-1] if active else self.mold

    def _offset_x(self, phase_frame: int) -> int | None:
        """Horizontal offset of the parts at this frame of the cycle; None when the fixture is empty."""
        travel = self.layout.frame_wh[0]
        if phase_frame < self.arrive_frames:
            return round(-travel * (1.0 - _ease(phase_frame / self.arrive_frames)))
        phase_frame -= self.arrive_frames
        if phase_frame < self.dwell_frames:
            return 0
        phase_frame -= self.dwell_frames
        if phase_frame < self.leave_frames:
            return round(travel * _ease((phase_frame + 1) / self.leave_frames))
        return None

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (0-based) as uint8 BGR, exactly as written before MJPG compression."""
        shot_index, phase_frame = divmod(index, self.cycle_frames)
        canvas = self.plate.copy()
        dx = self._offset_x(phase_frame)
        if dx is not None:
            for layer, (x, y, _, _) in zip(self.shot(shot_index).layers, self.layout.rois_xywh, strict=True):
                composite(canvas, layer, x + dx, y)
        canvas = self.camera_faults.apply(canvas, shot_index + 1)
        gain = self.drift.at(index / self.settings.fps).gain
        return expose(canvas, gain, np.random.default_rng([self.settings.seed, 2, index]))

    def timeline(self, video_name: str) -> Timeline:
        return Timeline(
            video_name,
            float(self.settings.fps),
            self.frame_count,
            self.layout.frame_wh,
            self.cycle_frames,
            self.shape,
            self.settings.seed,
            self.layout.rois_xywh,
            tuple(self._records.get(i) or self.shot(i).record for i in range(self.settings.shots)),
            self.settings.faults,
        )


def write_footage(
    out: Path, settings: FootageSettings, progress: Callable[[int], None] | None = None
) -> Timeline:
    """Write the MJPG .avi `out` and `out`.timeline.json; `progress(1)` after each frame."""
    out = Path(out)
    if out.suffix.lower() != ".avi":
        raise ValueError(f"footage is MJPG in an AVI container: name the file *.avi, not {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    plan = FootagePlan(settings)
    writer = _mjpg_writer(out, settings.fps, plan.layout.frame_wh, settings.jpeg_quality)
    try:
        for i in range(plan.frame_count):
            writer.write(plan.frame(i))
            if progress:
                progress(1)
    finally:
        writer.release()
    timeline = plan.timeline(out.name)
    write_timeline(timeline, out)
    return timeline


def _mjpg_writer(out: Path, fps: float, frame_wh: tuple[int, int], jpeg_quality: int) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(
        str(out),
        cv2.CAP_OPENCV_MJPEG,
        cv2.VideoWriter_fourcc(*"MJPG"),
        fps,
        frame_wh,
        [cv2.VIDEOWRITER_PROP_QUALITY, jpeg_quality],
    )
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot open {out} for writing MJPG")
    return writer


MJPG_BLOCK_PX = 16  # JPEG's 4:2:0 macroblock: where a crop sits in it changes the artefacts


def mjpg_round_trip(
    crops: np.ndarray, seed: int, jpeg_quality: int = FootageSettings.jpeg_quality
) -> np.ndarray:
    """`crops` [N, H, W, 3] uint8 as they come back from footage: through the same MJPG writer and reader.

    A model trained on lossless crops sees the camera stream's block artefacts as defects (OK housings
    scored NG in replay), and cv2.imencode is not the muxer's encoder. Each crop is written at a random
    offset inside one macroblock (edges replicated), as a nest's ROI falls anywhere on the block grid.
    """
    count, height, width, _ = crops.shape
    offsets = np.random.default_rng(seed).integers(0, MJPG_BLOCK_PX, (count, 2))
    pad = MJPG_BLOCK_PX
    padded = (cv2.copyMakeBorder(crop, oy, pad - oy, ox, pad - ox, cv2.BORDER_REPLICATE)
              for crop, (ox, oy) in zip(crops, offsets.tolist(), strict=True))
    out = np.empty_like(crops)
    for k, (frame, (ox, oy)) in enumerate(zip(_through_mjpg(padded, (width + pad, height + pad), count,
                                                            jpeg_quality), offsets.tolist(), strict=True)):
        out[k] = frame[oy:oy + height, ox:ox + width]
    return out


def trigger_crops(settings: FootageSettings) -> tuple[np.ndarray, list[str | None]]:
    """Every part of a recording as a triggered replay judges it: the shot's trigger frame through the
    footage's MJPG writer and back, cut at the nests' ROIs; [shots x cavities, cell_px, cell_px, 3] uint8
    BGR in shot then cavity order, and each part's defect (None: a good part). Only the trigger frames
    are rendered, so a model can be trained and validated on many short recordings (many molds,
    lightings, plates) cheaply. Decoded by FFmpeg, as `mjpg_round_trip` and as replay reads files."""
    plan = FootagePlan(settings)
    records = [plan.shot(i).record for i in range(settings.shots)]
    frames = (plan.frame(record.trigger_frame) for record in records)
    crops = [frame[y:y + h, x:x + w]
             for frame in _through_mjpg(frames, plan.layout.frame_wh, len(records), settings.jpeg_quality)
             for x, y, w, h in plan.layout.rois_xywh]
    return np.stack(crops), [truth.defect for record in records for truth in record.cavities]


def _through_mjpg(frames: Iterable[np.ndarray], frame_wh: tuple[int, int], count: int,
                  jpeg_quality: int) -> Iterator[np.ndarray]:
    """`count` `frames` as they come back from the footage's own MJPG writer, read by FFmpeg.

    FFmpeg, not OpenCV's own MJPEG reader: replay and the file and stream sources (edge/sources/opencv.py)
    decode with FFmpeg, whose chroma upsampling differs from OpenCV's reader by about one grey level on
    average and more on edges. A model validated on the other decoder's pixels scored good parts higher
    in replay than in its validation (issue 22: a two-view student's good housings, max P 0.13 read one
    way, 0.28 the other), so its threshold did not hold on footage."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "round_trip.avi"
        writer = _mjpg_writer(path, 10.0, frame_wh, jpeg_quality)
        try:
            for frame in frames:
                writer.write(frame)
        finally:
            writer.release()
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        try:
            for k in range(count):
                ok, frame = capture.read()
                if not ok:
                    raise OSError(f"{path}: frame {k} of {count} did not read back")
                yield frame
        finally:
            capture.release()
