"""Part geometry: what an injection-molded cap, gear or connector housing looks like from above.

A part is described in normalised units (the outer radius is 1.0, centre at the origin) as a list of
layers: the body outline, raised or recessed regions, and through-holes. `build_part_maps` places it in
a square cell with a pose and rasterises it into three maps that the renderer shades and the defects
edit: coverage (`alpha`), a relative height field (`height`) and the surface colour (`albedo`).
Keeping the part as maps rather than pixels is what lets a defect be applied to the same part, same
pose and same lighting, and lets the renderer produce the clean twin for comparison.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

Shape = Literal["cap", "gear", "housing", "bezel"]
# The shapes a "mixed" dataset or footage draws from, and so the ones the shipped models were trained on.
SHAPES: tuple[Shape, ...] = ("cap", "gear", "housing")
# A design no shipped model has seen (a square display bezel in a violet resin): chosen by name only
# (`--shape bezel`), never by "mixed", so every seed of the older shapes keeps its bytes. It stands for
# the shop's own new mold in the teach loop (issue 21).
NEW_SHAPES: tuple[Shape, ...] = ("bezel",)
ALL_SHAPES: tuple[Shape, ...] = SHAPES + NEW_SHAPES

# Outer radius of a part at scale 1.0, as a fraction of the cell side. Leaves room for pose jitter,
# flash and the drop shadow inside the cell.
RADIUS_FRACTION = 0.32
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point coordinates: 1/16 px


@dataclass(frozen=True)
class Pose:
    """Placement of a part in its nest: rotation, offset of the centre and scale."""

    angle_deg: float = 0.0
    dx_px: float = 0.0
    dy_px: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class PartDesign:
    """One mold's part: the shape and the few dimensions that differ from mold to mold."""

    shape: Shape
    teeth: int = 16  # gear
    lightening_holes: int = 0  # gear, round holes in the web
    knurls: int = 48  # cap, ridges on the rim
    logo_ring: bool = True  # cap, embossed ring on the top
    pins: int = 4  # housing, pin holes per row; bezel, vent slots
    ears: bool = True  # housing, mounting ears with holes; bezel, screw holes in its corner bosses


def sample_design(shape: Shape, rng: np.random.Generator) -> PartDesign:
    """A plausible design of `shape`; every field is drawn so the stream does not depend on the shape."""
    return PartDesign(
        shape=shape,
        teeth=int(rng.integers(12, 21)),
        lightening_holes=int(rng.choice([0, 4, 5, 6])),
        knurls=int(rng.integers(36, 61)),
        logo_ring=bool(rng.random() < 0.6),
        pins=int(rng.integers(3, 7)),
        ears=bool(rng.random() < 0.5),
    )


@dataclass
class PartMaps:
    """Rasterised part in a cell: coverage 0..1, relative height (0 = fixture), colour BGR 0..1."""

    alpha: np.ndarray  # (H, W) float32
    height: np.ndarray  # (H, W) float32
    albedo: np.ndarray  # (H, W, 3) float32

    def copy(self) -> PartMaps:
        return PartMaps(self.alpha.copy(), self.height.copy(), self.albedo.copy())


@dataclass(frozen=True)
class PartGeometry:
    """Where the part ended up in the cell, for defects that need to know where to act."""

    center_xy_px: tuple[float, float]
    radius_px: float
    angle_deg: float
    # Thick sections (x, y, radius) in cell pixels: where sink marks form.
    thick_spots_px: list[tuple[float, float, float]] = field(default_factory=list)


# --- normalised polygons -------------------------------------------------------------------------


def _circle(r: float, cx: float = 0.0, cy: float = 0.0, n: int = 72) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _rounded_rect(hw: float, hh: float, rr: float, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    corners = (
        (hw - rr, hh - rr, 0.0),
        (-hw + rr, hh - rr, 90.0),
        (-hw + rr, -hh + rr, 180.0),
        (hw - rr, -hh + rr, 270.0),
    )
    pts = []
    for x, y, start in corners:
        t = np.deg2rad(start + np.linspace(0.0, 90.0, 8))
        pts.append(np.stack([cx + x + rr * np.cos(t), cy + y + rr * np.sin(t)], axis=1))
    return np.concatenate(pts)


def _gear_outline(teeth: int, tip_r: float = 1.0, root_r: float = 0.84) -> np.ndarray:
    # Per tooth pitch: root, flank up, tip land, flank down (fractions of the pitch angle).
    pitch = 2.0 * np.pi / teeth
    fractions = np.array([0.0, 0.18, 0.32, 0.58, 0.72])
    radii = np.array([root_r, root_r, tip_r, tip_r, root_r])
    t = (np.arange(teeth)[:, None] * pitch + fractions[None, :] * pitch).ravel()
    r = np.tile(radii, teeth)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


# A layer is (kind, polygons, value): "body" adds coverage, "height" adds `value` to the height inside
# the polygons, "hole" removes material (the fixture shows through).
Layer = tuple[str, list[np.ndarray], float]


def _cap_layers(d: PartDesign) -> tuple[list[Layer], list[tuple[float, float, float]]]:
    t = np.linspace(0.0, 2.0 * np.pi, d.knurls * 8, endpoint=False)
    # Knurled rim: the outline itself is ridged, and the ridges show as height on the skirt.
    outline = np.stack([np.cos(t), np.sin(t)], axis=1) * (1.0 - 0.02 * (np.sin(d.knurls * t) > 0))[:, None]
    # One ridge per knurl: a quad between r 0.88 and 0.99, 45 % of the pitch wide.
    start = np.arange(d.knurls) * 2.0 * np.pi / d.knurls
    corners = start[:, None] + np.array([0.0, 0.45, 0.45, 0.0]) * 2.0 * np.pi / d.knurls
    radii = np.array([0.99, 0.99, 0.88, 0.88])
    ridges = list(np.stack([radii * np.cos(corners), radii * np.sin(corners)], axis=2))
    layers: list[Layer] = [
        ("body", [outline], 1.0),
        ("height", ridges, 0.18),
        ("height", [_circle(0.84)], -0.25),  # top plate sits below the skirt rim
        ("height", [_circle(0.80)], 0.12),  # ... with a groove between them
        ("height", [_circle(0.07)], 0.10),  # gate vestige
    ]
    if d.logo_ring:
        layers += [("height", [_circle(0.50)], 0.07), ("height", [_circle(0.44)], -0.07)]
    return layers, [(0.0, 0.0, 0.35), (0.0, 0.0, 0.65)]


def _gear_layers(d: PartDesign) -> tuple[list[Layer], list[tuple[float, float, float]]]:
    layers: list[Layer] = [
        ("body", [_gear_outline(d.teeth)], 1.0),
        ("height", [_circle(0.70)], -0.30),  # thin web between rim and hub
        ("height", [_circle(0.34)], 0.45),  # thick hub
        ("hole", [_circle(0.15)], 0.0),
        ("hole", [np.array([[0.10, -0.05], [0.21, -0.05], [0.21, 0.05], [0.10, 0.05]])], 0.0),  # keyway
    ]
    if d.lightening_holes:
        a = np.arange(d.lightening_holes) * 2.0 * np.pi / d.lightening_holes
        layers.append(("hole", [_circle(0.10, 0.52 * np.cos(t), 0.52 * np.sin(t), 36) for t in a], 0.0))
    return layers, [(0.0, 0.0, 0.30), (0.77, 0.0, 0.08), (-0.77, 0.0, 0.08)]


def _housing_layers(d: PartDesign) -> tuple[list[Layer], list[tuple[float, float, float]]]:
    body = [_rounded_rect(1.0, 0.62, 0.10)]
    layers: list[Layer] = []
    if d.ears:
        body += [_rounded_rect(0.14, 0.20, 0.08, cx=x) for x in (-1.08, 1.08)]
        layers.append(("hole", [_circle(0.065, x, 0.0, 32) for x in (-1.1, 1.1)], 0.0))
    layers = [("body", body, 1.0), ("height", [_rounded_rect(0.88, 0.50, 0.06)], -0.22), *layers]
    pitch = 1.5 / d.pins
    xs = (np.arange(d.pins) - (d.pins - 1) / 2.0) * pitch
    pins = [_rounded_rect(0.28 * pitch, 0.085, 0.02, cx=x, cy=y) for x in xs for y in (-0.20, 0.20)]
    layers += [
        ("height", [_rounded_rect(0.80, 0.08, 0.03, cy=0.0)], 0.16),  # rib between the pin rows
        ("hole", pins, 0.0),
        ("hole", [_rounded_rect(0.45, 0.035, 0.03, cy=0.43)], 0.0),  # latch slot
        ("height", [_rounded_rect(0.22, 0.06, 0.02, cy=-0.52)], 0.28),  # latch ramp
    ]
    spots = [(0.0, 0.0, 0.25), (0.0, -0.45, 0.12), (-0.82, 0.40, 0.10)]
    # The housing is long: shrink it so its ears stay in the nest under pose jitter and warp.
    k = 0.85
    return [(kind, [p * k for p in polys], v) for kind, polys, v in layers], [
        (x * k, y * k, r * k) for x, y, r in spots
    ]


def _bezel_layers(d: PartDesign) -> tuple[list[Layer], list[tuple[float, float, float]]]:
    """A square display bezel: a frame round a large window, a raised lip at the window (when
    `logo_ring`), four corner screw bosses (holed when `ears`) and a row of `pins` vent slots."""
    bosses = [(x, y) for x in (-0.56, 0.56) for y in (-0.56, 0.56)]
    xs = (np.arange(d.pins) - (d.pins - 1) / 2.0) * (0.5 / max(1, d.pins - 1))
    layers: list[Layer] = [
        ("body", [_rounded_rect(0.74, 0.74, 0.22)], 1.0),
        ("height", [_rounded_rect(0.66, 0.66, 0.18)], -0.18),  # the frame face below its outer rim
        ("height", [_circle(0.12, x, y, 36) for x, y in bosses], 0.34),
        ("hole", [_rounded_rect(0.42, 0.42, 0.08)], 0.0),  # the window
        ("hole", [_rounded_rect(0.025, 0.07, 0.02, cx=x, cy=0.60) for x in xs], 0.0),  # vent slots
    ]
    if d.logo_ring:
        layers.insert(2, ("height", [_rounded_rect(0.50, 0.50, 0.12)], 0.14))
    if d.ears:
        layers.append(("hole", [_circle(0.045, x, y, 24) for x, y in bosses], 0.0))
    return layers, [(x, y, 0.12) for x, y in bosses]


_LAYERS = {"cap": _cap_layers, "gear": _gear_layers, "housing": _housing_layers, "bezel": _bezel_layers}


@functools.cache
def pixel_grid(size_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates of a square cell, float32 (H, W) each; shared and read-only."""
    yy, xx = np.mgrid[0:size_px, 0:size_px].astype(np.float32)
    xx.flags.writeable = yy.flags.writeable = False
    return xx, yy


# --- rasterisation -------------------------------------------------------------------------------


def _fill(size_px: int, polys_px: list[np.ndarray]) -> np.ndarray:
    canvas = np.zeros((size_px, size_px), np.uint8)
    fixed = [np.round(p * (1 << _SUBPIXEL_BITS)).astype(np.int32) for p in polys_px]
    cv2.fillPoly(canvas, fixed, 255, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
    return canvas.astype(np.float32) * (1.0 / 255.0)


def build_part_maps(
    design: PartDesign, size_px: int, pose: Pose, color_bgr: tuple[float, float, float]
) -> tuple[PartMaps, PartGeometry]:
    """Rasterise `design` in a `size_px` square cell, centred plus the pose offset; colour BGR in 0..1."""
    radius_px = RADIUS_FRACTION * size_px * pose.scale
    cx = size_px / 2.0 + pose.dx_px
    cy = size_px / 2.0 + pose.dy_px
    a = np.deg2rad(pose.angle_deg)
    rot = radius_px * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float64)
    offset = np.array([cx, cy])

    def to_px(poly: np.ndarray) -> np.ndarray:
        return poly @ rot.T + offset

    layers, spots = _LAYERS[design.shape](design)
    body = np.zeros((size_px, size_px), np.float32)
    height = np.zeros_like(body)
    holes = np.zeros_like(body)
    for kind, polys, value in layers:
        mask = _fill(size_px, [to_px(p) for p in polys])
        if kind == "body":
            body = np.maximum(body, mask)
        elif kind == "height":
            height += value * mask
        else:
            holes = np.maximum(holes, mask)
    alpha = body * (1.0 - holes)
    height = (1.0 + height) * alpha
    albedo = np.empty((size_px, size_px, 3), np.float32)
    albedo[:] = np.asarray(color_bgr, np.float32)
    thick = [(*(to_px(np.array([[x, y]]))[0]), r * radius_px) for x, y, r in spots]
    geometry = PartGeometry((cx, cy), radius_px, pose.angle_deg, [tuple(map(float, s)) for s in thick])
    return PartMaps(alpha, height, albedo), geometry
