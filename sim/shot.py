"""A shot of a multi-cavity mold: cavity grid, lighting that drifts, parts placed with jitter.

Sampling is shared by datasets and footage so both draw parts from the same distribution: the same
pose jitter, defect mix, severity range, colours and lighting range. Every function takes the random
generator it may use and draws a fixed sequence from it, so results never depend on iteration order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.defects import DEFECT_NAMES
from sim.parts import NEW_SHAPES, SHAPES, PartDesign, Pose, Shape
from sim.render import Lighting, PartSpec

CAVITY_COUNTS = (1, 2, 4, 8)
_GRID_COLS_ROWS = {1: (1, 1), 2: (2, 1), 4: (2, 2), 8: (4, 2)}
FRAME_MARGIN_PX = 32  # fixture plate around the nests; with the gap, multiples of 16 keep nests
NEST_GAP_PX = 16  # aligned with MJPG's 16x16 macroblocks, so a cavity crop has no block straddling it
SEVERITY_RANGE = (0.15, 1.0)
ANGLE_JITTER_DEG, OFFSET_JITTER_FRACTION, SCALE_JITTER = 8.0, 4.0 / 160.0, 0.03
AZIMUTH_RANGE_DEG, ELEVATION_RANGE_DEG, GAIN_RANGE = (95.0, 175.0), (42.0, 58.0), (0.9, 1.1)

# Common resin colours (BGR, 0..1): natural, light grey, blue, red, yellow, green, orange.
PALETTE_BGR = (
    (0.82, 0.84, 0.86),
    (0.66, 0.67, 0.66),
    (0.65, 0.35, 0.12),
    (0.15, 0.15, 0.65),
    (0.15, 0.75, 0.88),
    (0.25, 0.55, 0.20),
    (0.10, 0.45, 0.90),
)
# The resins of the new designs (sim.parts.NEW_SHAPES), outside the palette above: violet and mauve.
NEW_PALETTE_BGR = (
    (0.52, 0.20, 0.45),
    (0.58, 0.34, 0.56),
)


@dataclass(frozen=True)
class CavityTruth:
    """Ground truth for one cavity of one shot. bbox_xywh is in crop or frame pixels (see the caller)."""

    cavity: int  # 1-based
    part_id: int
    label: Literal["ok", "ng"] | None  # None: a recording of the line, nothing known
    defect: str | None
    severity: float | None
    bbox_xywh: tuple[int, int, int, int] | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.cavity,
            "part_id": self.part_id,
            "label": self.label,
            "defect": self.defect,
            "severity": self.severity,
            "bbox_xywh": list(self.bbox_xywh) if self.bbox_xywh else None,
        }


@dataclass(frozen=True)
class GridLayout:
    """Nests of a K-cavity fixture: frame size and one roi_xywh per cavity (cavity i at index i-1)."""

    frame_wh: tuple[int, int]
    rois_xywh: tuple[tuple[int, int, int, int], ...]


def grid_layout(cavities: int, cell_px: int) -> GridLayout:
    """Cavities in rows of up to 4, numbered left to right, top to bottom."""
    if cavities not in _GRID_COLS_ROWS:
        raise ValueError(f"cavities must be one of {CAVITY_COUNTS}, got {cavities}")
    cols, rows = _GRID_COLS_ROWS[cavities]
    pitch = cell_px + NEST_GAP_PX
    rois = tuple(
        (FRAME_MARGIN_PX + c * pitch, FRAME_MARGIN_PX + r * pitch, cell_px, cell_px)
        for r in range(rows)
        for c in range(cols)
    )
    size = (
        2 * FRAME_MARGIN_PX + cols * pitch - NEST_GAP_PX,
        2 * FRAME_MARGIN_PX + rows * pitch - NEST_GAP_PX,
    )
    return GridLayout(size, rois)


@dataclass(frozen=True)
class LightingDrift:
    """Slow sinusoidal drift of the lamp direction and the exposure gain over a recording."""

    azimuth_deg: float
    azimuth_swing_deg: float
    elevation_deg: float
    gain_swing: float
    azimuth_period_s: float
    gain_period_s: float
    phase_rad: tuple[float, float]

    @classmethod
    def sample(cls, rng: np.random.Generator) -> LightingDrift:
        swing = 20.0
        lo, hi = AZIMUTH_RANGE_DEG
        return cls(
            azimuth_deg=float(rng.uniform(lo + swing, hi - swing)),
            azimuth_swing_deg=swing,
            elevation_deg=float(rng.uniform(*ELEVATION_RANGE_DEG)),
            gain_swing=float(rng.uniform(0.05, GAIN_RANGE[1] - 1.0)),
            azimuth_period_s=float(rng.uniform(40.0, 120.0)),
            gain_period_s=float(rng.uniform(30.0, 90.0)),
            phase_rad=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
        )

    def at(self, t_s: float) -> Lighting:
        az = self.azimuth_deg + self.azimuth_swing_deg * np.sin(
            2 * np.pi * t_s / self.azimuth_period_s + self.phase_rad[0]
        )
        gain = 1.0 + self.gain_swing * np.sin(2 * np.pi * t_s / self.gain_period_s + self.phase_rad[1])
        return Lighting(float(az), self.elevation_deg, float(gain))


def sample_shape(rng: np.random.Generator, shape: Shape | Literal["mixed"]) -> Shape:
    """`shape` itself, or a random one for "mixed"; draws from `rng` either way."""
    drawn = SHAPES[int(rng.integers(len(SHAPES)))]
    return drawn if shape == "mixed" else shape


def sample_color(rng: np.random.Generator, shape: str | None = None) -> tuple[float, float, float]:
    """A resin colour from the palette, with batch-to-batch variation; a new design (`shape` in
    NEW_SHAPES) comes in its own resins. The same draws either way."""
    palette = NEW_PALETTE_BGR if shape in NEW_SHAPES else PALETTE_BGR
    base = np.asarray(palette[int(rng.integers(len(PALETTE_BGR))) % len(palette)])
    b, g, r = np.clip(base + rng.uniform(-0.04, 0.04, 3), 0.0, 1.0)
    return float(b), float(g), float(r)


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """A still's lighting, covering the range a drifting recording goes through."""
    return Lighting(
        float(rng.uniform(*AZIMUTH_RANGE_DEG)),
        float(rng.uniform(*ELEVATION_RANGE_DEG)),
        float(rng.uniform(*GAIN_RANGE)),
    )


def sample_part(
    rng: np.random.Generator,
    design: PartDesign,
    size_px: int,
    color_bgr: tuple[float, float, float],
    lighting: Lighting,
    defect_rate: float,
) -> PartSpec:
    """A part in its nest with pose jitter; defective with probability `defect_rate` (any defect alike)."""
    jitter = OFFSET_JITTER_FRACTION * size_px
    pose = Pose(
        angle_deg=float(rng.uniform(-ANGLE_JITTER_DEG, ANGLE_JITTER_DEG)),
        dx_px=float(rng.uniform(-jitter, jitter)),
        dy_px=float(rng.uniform(-jitter, jitter)),
        scale=float(rng.uniform(1.0 - SCALE_JITTER, 1.0 + SCALE_JITTER)),
    )
    is_ng = bool(rng.random() < defect_rate)
    defect = DEFECT_NAMES[int(rng.integers(len(DEFECT_NAMES)))]
    severity = round(float(rng.uniform(*SEVERITY_RANGE)), 3)
    defect_seed = int(rng.integers(2**63))
    return PartSpec(
        design,
        size_px,
        pose,
        color_bgr,
        lighting,
        defect if is_ng else None,
        severity if is_ng else 0.0,
        defect_seed,
    )


def truth_of(
    spec: PartSpec, cavity: int, part_id: int, bbox_xywh: tuple[int, int, int, int] | None
) -> CavityTruth:
    return CavityTruth(cavity, part_id, "ng" if spec.defect else "ok", spec.defect, spec.severity, bbox_xywh)
