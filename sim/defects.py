"""Molding defects, one function each, applied in place to a part's maps before shading.

Every function takes the maps, the part's geometry, a severity in [0, 1] (mapped to size and contrast,
see the acceptance limits below) and its own random generator. Editing maps rather than pixels keeps the
defects physically consistent with the shading: a sink mark is a dip in the height field, so it is
shaded by the same light as the rest of the part; a short shot removes material, so the fixture and the
shadow show through. The renderer measures each defect's bbox from the pixels it changes.

Acceptance limits. Severity spans the defects an inspector must reject, from subtle to obvious; a flaw
below the subtle end is within spec and the part is labelled OK. The subtle end (severity 0.15, r = part
radius, ~51 px in a 160 px nest) was raised where it used to hide in the OK variation (2-px burn dots, a
warp inside the +-3 % scale jitter, sink marks that housings' shading swallowed):

    short_shot  a rim sector missing >= 0.20 r deep (~10 px)
    flash       a sheet >= 0.10 r wide (~5 px) over >= +-24 deg of the outline
    sink_mark   a dip of sigma >= 0.16 r (~8 px), darkening the surface by >= 18 %
    burn        a charred streak >= 0.20 r x 0.09 r (~10 x 5 px)
    scratch     a line >= 0.50 r long (~26 px) at >= 64 % contrast
    crack       a dark line >= 0.41 r long (~21 px), >= 74 % darker
    warp        >= 6 % elongation (twice the scale jitter) and a bow of >= 0.08 r

Placement is random, so the renderer also checks that the camera can see the result: a placement that
changes fewer than 12 pixels by 32 grey levels (a scratch across a window, a sink mark in a housing's
hole) is drawn again (sim/render.py VISIBLE_LEVEL). A scratch on a light part is a dark groove: stress
whitening on white plastic changes ~25 levels, below what an inspector sees.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from sim.parts import PartGeometry, PartMaps, pixel_grid

DefectFn = Callable[[PartMaps, PartGeometry, float, np.random.Generator], None]
_BURN_BGR = np.array([0.05, 0.08, 0.14], np.float32)  # charred resin: dark brown


def _polar(maps: PartMaps, geom: PartGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel offsets from the part centre (dx, dy), radius and angle (radians, image y down)."""
    size = maps.alpha.shape[0]
    xx, yy = pixel_grid(size)
    dx, dy = xx - geom.center_xy_px[0], yy - geom.center_xy_px[1]
    return dx, dy, np.hypot(dx, dy), np.arctan2(dy, dx)


def _angle_to(theta: np.ndarray, phi: float) -> np.ndarray:
    return np.abs((theta - phi + np.pi) % (2.0 * np.pi) - np.pi)


def _random_point(mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    i = int(rng.integers(len(xs)))
    return float(xs[i]), float(ys[i])


def _draw_line_mask(shape: tuple[int, ...], points: np.ndarray, thickness: int) -> np.ndarray:
    canvas = np.zeros(shape[:2], np.uint8)
    cv2.polylines(canvas, [np.round(points * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, 4)
    return canvas.astype(np.float32) * (1.0 / 255.0)


def short_shot(maps: PartMaps, geom: PartGeometry, severity: float, rng: np.random.Generator) -> None:
    """Incomplete fill: a sector of the rim never filled; the melt front stops with a wavy edge."""
    dx, dy, _, _ = _polar(maps, geom)
    phi = rng.uniform(0.0, 2.0 * np.pi)
    along = dx * np.cos(phi) + dy * np.sin(phi)
    across = -dx * np.sin(phi) + dy * np.cos(phi)
    r = geom.radius_px
    extent = float(along[maps.alpha > 0.5].max())
    depth = (0.16 + 0.26 * severity) * r
    front = extent - depth + 0.35 * across**2 / r + 0.02 * r * np.sin(across * rng.uniform(0.2, 0.4))
    missing = np.clip(along - front + 0.5, 0.0, 1.0)
    maps.alpha *= 1.0 - missing
    maps.height *= 1.0 - missing


def flash(maps: PartMaps, geom: PartGeometry, severity: float, rng: np.random.Generator) -> None:
    """Thin translucent sheet of excess material squeezed out past the outline along the parting line."""
    _, _, _, theta = _polar(maps, geom)
    # Outside the outer contour only: flash forms at the parting line, not inside holes.
    contours, _ = cv2.findContours(
        (maps.alpha > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    outside = np.ones_like(maps.alpha, np.uint8)
    cv2.drawContours(outside, contours, -1, 0, cv2.FILLED)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 3)
    phi = rng.uniform(0.0, 2.0 * np.pi)
    half_arc = 0.35 + 0.5 * severity
    taper = np.sqrt(np.clip(1.0 - _angle_to(theta, phi) / half_arc, 0.0, 1.0))
    knots = rng.uniform(0.6, 1.4, 9)  # ragged edge: width varies smoothly along the arc
    ragged = np.interp(theta, np.linspace(-np.pi, np.pi, 9), knots, period=2.0 * np.pi)
    width = (0.08 + 0.10 * severity) * geom.radius_px * taper * ragged
    sheet = np.clip(width - dist + 0.5, 0.0, 1.0) * outside
    maps.alpha[:] = np.maximum(maps.alpha, 0.9 * sheet)
    maps.height[:] = np.maximum(maps.height, 0.2 * sheet)
    # Thin plastic lets light through: lighter and less saturated than the part.
    maps.albedo += (0.85 - maps.albedo) * (0.35 * sheet)[..., None]


def sink_mark(maps: PartMaps, geom: PartGeometry, severity: float, rng: np.random.Generator) -> None:
    """Shallow depression over a thick section where the core shrank as it cooled."""
    x, y, spread = geom.thick_spots_px[int(rng.integers(len(geom.thick_spots_px)))]
    a = rng.uniform(0.0, 2.0 * np.pi)
    off = rng.uniform(0.0, 0.6) * spread
    x, y = x + off * np.cos(a), y + off * np.sin(a)
    size = maps.alpha.shape[0]
    xx, yy = pixel_grid(size)
    rr = (0.14 + 0.10 * severity) * geom.radius_px
    dip = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2.0 * rr * rr)) * (maps.alpha > 0.99)
    maps.height -= (0.40 + 0.25 * severity) * dip
    maps.albedo *= (1.0 - (0.16 + 0.12 * severity) * dip)[..., None]


def burn(maps: PartMaps, geom: PartGeometry, severity: float, rng: np.random.Generator) -> None:
    """Diesel effect: trapped air ignites at the end of fill and chars the resin, a dark streak."""
    _, _, radius, _ = _polar(maps, geom)
    core = cv2.erode((maps.alpha > 0.99).astype(np.uint8), np.ones((5, 5), np.uint8))
    x, y = _random_point((core > 0) & (radius > 0.45 * geom.radius_px), rng)
    size = maps.alpha.shape[0]
    xx, yy = pixel_grid(size)
    tangent = np.arctan2(y - geom.center_xy_px[1], x - geom.center_xy_px[0]) + np.pi / 2.0
    u = (xx - x) * np.cos(tangent) + (yy - y) * np.sin(tangent)
    v = -(xx - x) * np.sin(tangent) + (yy - y) * np.cos(tangent)
    a = (0.18 + 0.10 * severity) * geom.radius_px
    b = (0.09 + 0.03 * severity) * geom.radius_px
    spot = np.exp(-2.0 * ((u / a) ** 2 + (v / b) ** 2)) * maps.alpha
    strength = np.clip((0.6 + 0.4 * severity) * 1.3 * spot, 0.0, 1.0)[..., None]
    maps.albedo[:] = maps.albedo * (1.0 - strength) + _BURN_BGR * (1.0 - 0.6 * severity) * strength


def _most_visible(lines: list[np.ndarray], surface: np.ndarray) -> int:
    """Index of the candidate line with the most length on the part's surface (holes hide the rest)."""
    return int(np.argmax([(line * surface).sum() for line in lines]))


_CANDIDATES = 4  # lines drawn per scratch or crack; the most visible is kept


def scratch(maps: PartMaps, geom: PartGeometry, severity: float, rng: np.random.Generator) -> None:
    """A handling scratch: a thin, slightly curved line, stress-whitened (bright) or dark."""
    inside = maps.alpha > 0.99
    length = (0.45 + 0.45 * severity) * geom.radius_px
    t = np.linspace(-0.5, 0.5, 9)[:, None]
    thickness = 1 if severity < 0.6 else 2
    candidates = []
    for _ in range(_CANDIDATES):
        x, y = _random_point(inside, rng)
        a = rng.uniform(0.0, np.pi)
        bend = rng.uniform(-0.08, 0.08) * length * (1.0 - 4.0 * t**2)
        direction, normal = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
        points = np.array([x, y]) + t * length * direction + bend * normal
        candidates.append(_draw_line_mask(maps.alpha.shape, points, thickness))
    line = candidates[_most_visible(candidates, inside)] * inside
    contrast = (0.60 + 0.30 * severity) * line
    # Stress whitening shows on a dark or saturated part; on a light one the scratch is a dark groove.
    light_part = float(maps.albedo[inside].min(axis=1).mean()) > 0.55
    if rng.random() < 0.6 and not light_part:
        maps.albedo += (1.0 - maps.albedo) * contrast[..., None]
    else:
        maps.albedo *= (1.0 - contrast)[..., None]
    maps.height -= 0.05 * line


def _crack_path(
    x: float, y: float, heading: float, n: int, step: float, rng: np.random.Generator
) -> np.ndarray:
    """A jagged path of n steps: the heading wanders at random, as a crack follows weak spots."""
    headings = heading + np.cumsum(rng.uniform(-0.6, 0.6, n)) * 0.5
    steps = np.stack([np.cos(headings), np.sin(headings)], 1) * step
    return np.vstack([np.array([[x, y]]), np.array([x, y]) + np.cumsum(steps, 0)])


def crack(maps: PartMaps, geom: PartGeometry, severity: float, rng: np.random.Generator) -> None:
    """A stress crack: a dark jagged line running in from the rim, branching when severe."""
    solid = maps.alpha > 0.5
    edge = solid & (cv2.erode(solid.astype(np.uint8), np.ones((3, 3))) == 0)
    _, _, radius, _ = _polar(maps, geom)
    rim = edge & (radius > 0.6 * geom.radius_px)
    length = (0.35 + 0.40 * severity) * geom.radius_px
    step = max(2.0, 0.06 * geom.radius_px)
    n = max(3, int(length / step))
    thickness = 1 if severity < 0.7 else 2
    paths = []
    for _ in range(_CANDIDATES):
        x, y = _random_point(rim, rng)
        inward = np.arctan2(geom.center_xy_px[1] - y, geom.center_xy_px[0] - x) + rng.uniform(-0.3, 0.3)
        paths.append(_crack_path(x, y, inward, n, step, rng))
    masks = [_draw_line_mask(maps.alpha.shape, p, thickness) for p in paths]
    best = _most_visible(masks, solid)
    line = masks[best]
    if severity > 0.6:  # a branch from the middle of the crack
        mid = paths[best][len(paths[best]) // 2]
        along = paths[best][len(paths[best]) // 2 + 1] - mid
        turn = float(np.arctan2(along[1], along[0])) + rng.choice([-0.8, 0.8])
        branch = _crack_path(float(mid[0]), float(mid[1]), turn, n // 2, step, rng)
        line = np.maximum(line, _draw_line_mask(maps.alpha.shape, branch, 1))
    line *= solid
    maps.albedo *= (1.0 - (0.7 + 0.25 * severity) * line)[..., None]
    maps.height -= 0.2 * line


def warp(maps: PartMaps, geom: PartGeometry, severity: float, rng: np.random.Generator) -> None:
    """Uneven shrinkage bends the part: stretched along one axis, bowed across it, tilted in the light."""
    dx, dy, _, _ = _polar(maps, geom)
    psi = rng.uniform(0.0, np.pi)
    along = dx * np.cos(psi) + dy * np.sin(psi)
    across = -dx * np.sin(psi) + dy * np.cos(psi)
    r = geom.radius_px
    stretch = 1.05 + 0.06 * severity
    bow = (0.06 + 0.10 * severity) * rng.choice([-1.0, 1.0])
    # Inverse map: where in the straight part does each output pixel come from.
    src_along = along / stretch
    src_across = across * (2.0 - stretch) - bow * (along**2) / r
    cx, cy = geom.center_xy_px
    map_x = (cx + src_along * np.cos(psi) - src_across * np.sin(psi)).astype(np.float32)
    map_y = (cy + src_along * np.sin(psi) + src_across * np.cos(psi)).astype(np.float32)
    maps.alpha[:] = cv2.remap(maps.alpha, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    maps.height[:] = cv2.remap(maps.height, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    maps.albedo[:] = cv2.remap(maps.albedo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    maps.height += (0.15 + 0.25 * severity) * (across / r) * maps.alpha


DEFECTS: dict[str, DefectFn] = {
    "short_shot": short_shot,
    "flash": flash,
    "sink_mark": sink_mark,
    "burn": burn,
    "scratch": scratch,
    "crack": crack,
    "warp": warp,
}
DEFECT_NAMES: tuple[str, ...] = tuple(DEFECTS)


def apply_defect(
    name: str, maps: PartMaps, geom: PartGeometry, severity: float, rng: np.random.Generator
) -> None:
    """Apply defect `name` in place; severity is clipped to [0, 1]."""
    if name not in DEFECTS:
        raise ValueError(f"unknown defect {name!r}; known: {', '.join(DEFECT_NAMES)}")
    DEFECTS[name](maps, geom, float(np.clip(severity, 0.0, 1.0)), rng)
