"""Shading and exposure: from part maps to the pixels a camera over the fixture would record.

The pipeline is the same for a dataset crop and a footage frame, which is what makes a footage cavity
crop look like a dataset crop of the same part:

    PartSpec -> render_layer() -> PartLayer (colour, coverage, shadow; noise-free, gain 1)
    fixture background (float) -> composite(layer) -> expose(gain, sensor noise) -> uint8 BGR

Shading is Lambert + Blinn-Phong on the normals of the (blurred) height field, with a broad specular
sheen on flat glossy areas, and a soft drop shadow on the fixture away from the light.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from sim.defects import apply_defect
from sim.parts import PartDesign, PartGeometry, PartMaps, Pose, build_part_maps, pixel_grid

NOISE_SIGMA_LEVELS = 2.5  # sensor noise, grey levels (of 255)
BBOX_DIFF_LEVEL = 4.0 / 255.0  # a pixel belongs to a defect's bbox if the defect changes it this much
# A defect must be visible to be a defect: at least VISIBLE_MIN_PX pixels changed by ~13x the sensor
# noise (a whitened 1-px scratch on a white cap changes ~25 levels: invisible in the picture).
# Placement is random (a scratch across a hole, a whitened scratch on a white part, a sink mark in a
# housing's window, a dark crack on a dark rib), so an invisible placement is drawn again.
VISIBLE_LEVEL = 32.0 / 255.0
VISIBLE_MIN_PX = 12
DEFECT_ATTEMPTS = 8
_AMBIENT, _DIFFUSE, _SPECULAR, _SHININESS = 0.30, 0.85, 0.35, 40.0
_SHADOW_STRENGTH = 0.45
_FIXTURE_GREY = 0.42


@dataclass(frozen=True)
class Lighting:
    """Ring-less top light: direction on screen (0 = from the right, 90 = from the top) and exposure gain."""

    azimuth_deg: float = 135.0
    elevation_deg: float = 50.0
    gain: float = 1.0

    def vector(self) -> np.ndarray:
        a, e = np.deg2rad(self.azimuth_deg), np.deg2rad(self.elevation_deg)
        return np.array([np.cos(a) * np.cos(e), -np.sin(a) * np.cos(e), np.sin(e)], np.float32)


@dataclass(frozen=True)
class PartSpec:
    """Everything that determines one rendered part; the same spec always gives the same pixels."""

    design: PartDesign
    size_px: int
    pose: Pose
    color_bgr: tuple[float, float, float]  # 0..1
    lighting: Lighting
    defect: str | None = None
    severity: float = 0.0
    defect_seed: int = 0

    def clean(self) -> PartSpec:
        """The same part, pose and lighting without the defect."""
        return replace(self, defect=None, severity=0.0)


@dataclass
class PartLayer:
    """A shaded part ready to composite: colour (H, W, 3), coverage and shadow (H, W), all float32."""

    color: np.ndarray
    alpha: np.ndarray
    shadow: np.ndarray


def shade(maps: PartMaps, geometry: PartGeometry, lighting: Lighting) -> PartLayer:
    size = maps.alpha.shape[0]
    sigma = 0.011 * size  # edge bevel / fillet radius
    h = cv2.GaussianBlur(maps.height, (0, 0), sigma)
    k = 0.044 * size  # height units per pixel of slope; scaled with the cell so shading is size-free
    gx = cv2.Sobel(h, cv2.CV_32F, 1, 0, ksize=3) * (k / 8.0)
    gy = cv2.Sobel(h, cv2.CV_32F, 0, 1, ksize=3) * (k / 8.0)
    inv_norm = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    light = lighting.vector()
    n_dot_l = np.clip((-gx * light[0] - gy * light[1] + light[2]) * inv_norm, 0.0, 1.0)
    half = light + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half)
    n_dot_h = np.clip((-gx * half[0] - gy * half[1] + half[2]) * inv_norm, 0.0, 1.0)
    specular = _SPECULAR * n_dot_h**_SHININESS
    # Glossy flat areas mirror the lamp as a broad soft highlight, offset towards the light.
    cx, cy = geometry.center_xy_px
    r = geometry.radius_px
    xx, yy = pixel_grid(size)
    planar = light[:2] / max(1e-3, float(np.hypot(light[0], light[1])))
    hx, hy = cx + 0.35 * r * planar[0], cy + 0.35 * r * planar[1]
    sheen = 0.10 * np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2.0 * (0.4 * r) ** 2)) * inv_norm**8
    shading = _AMBIENT + _DIFFUSE * n_dot_l
    color = maps.albedo * shading[..., None] + (specular + sheen)[..., None]
    # Drop shadow: the coverage, moved away from the light and softened.
    dist = 0.03 * size
    move = np.float32([[1, 0, -light[0] * dist], [0, 1, -light[1] * dist]])
    shadow = cv2.warpAffine(maps.alpha, move, (size, size), flags=cv2.INTER_LINEAR)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 0.025 * size)
    return PartLayer(color.astype(np.float32), maps.alpha, shadow)


def render_layer(
    spec: PartSpec, background: np.ndarray
) -> tuple[PartLayer, tuple[int, int, int, int] | None]:
    """Shade `spec`; for a defective part also return its bbox_xywh in cell pixels.

    The bbox is measured, not declared: it bounds the pixels where the defect changes the noise-free
    image on `background` by more than BBOX_DIFF_LEVEL. That keeps every defect honest (a bbox always
    holds a visible change) and covers effects such as a flash that also moves the shadow.
    """
    maps, geometry = build_part_maps(spec.design, spec.size_px, spec.pose, spec.color_bgr)
    clean = shade(maps, geometry, spec.lighting)
    if spec.defect is None:
        return clean, None
    def exposed(part: PartLayer) -> np.ndarray:  # noise-free camera values: a highlight clips at white
        return np.clip(composite(background.copy(), part, 0, 0) * spec.lighting.gain, 0.0, 1.0)

    without = exposed(clean)
    rng = np.random.default_rng(spec.defect_seed)
    for _ in range(DEFECT_ATTEMPTS):
        defective = maps.copy()
        apply_defect(spec.defect, defective, geometry, spec.severity, rng)
        layer = shade(defective, geometry, spec.lighting)
        change = np.abs(exposed(layer) - without).max(axis=2)
        if np.count_nonzero(change > VISIBLE_LEVEL) >= VISIBLE_MIN_PX:
            x, y, w, h = cv2.boundingRect((change > BBOX_DIFF_LEVEL).astype(np.uint8))
            return layer, (int(x), int(y), int(w), int(h))
    raise RuntimeError(f"defect {spec.defect} at severity {spec.severity} stayed invisible in "
                       f"{DEFECT_ATTEMPTS} placements (seed {spec.defect_seed})")


def fixture_background(
    height_px: int, width_px: int, rng: np.random.Generator, grey: float = _FIXTURE_GREY
) -> np.ndarray:
    """Bead-blasted, slightly brushed aluminium: float32 BGR 0..1, bluish grey."""
    streaks = rng.standard_normal((height_px, 1), dtype=np.float32)
    streaks = cv2.GaussianBlur(streaks, (1, 0), 0, sigmaY=1.2) * 0.012
    grain = cv2.GaussianBlur(rng.standard_normal((height_px, width_px), dtype=np.float32), (0, 0), 0.8) * 0.01
    base = grey + streaks + grain
    tint = np.array([1.04, 1.0, 0.97], np.float32)
    return np.clip(base[..., None] * tint, 0.0, 1.0).astype(np.float32)


def nest_background(size_px: int, rng: np.random.Generator) -> np.ndarray:
    """One cavity's nest on the fixture: the plate with a chamfered pocket edge at the cell border."""
    cell = fixture_background(size_px, size_px, rng)
    edge = max(2, size_px // 64)
    cv2.rectangle(cell, (0, 0), (size_px - 1, size_px - 1), (0.30, 0.29, 0.28), edge)
    cv2.rectangle(cell, (edge, edge), (size_px - 1 - edge, size_px - 1 - edge), (0.50, 0.49, 0.48), 1)
    return cell


def composite(canvas: np.ndarray, layer: PartLayer, x: int, y: int) -> np.ndarray:
    """Lay `layer` onto float `canvas` with its top-left at (x, y), clipped to the canvas; in place."""
    lh, lw = layer.alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + lw, canvas.shape[1]), min(y + lh, canvas.shape[0])
    if x0 >= x1 or y0 >= y1:
        return canvas
    src = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    region = canvas[y0:y1, x0:x1]
    alpha = layer.alpha[src][..., None]
    region *= (1.0 - _SHADOW_STRENGTH * layer.shadow[src][..., None]) * (1.0 - alpha)
    region += layer.color[src] * alpha
    return canvas


def expose(
    canvas: np.ndarray, gain: float, rng: np.random.Generator, noise_sigma_levels: float = NOISE_SIGMA_LEVELS
) -> np.ndarray:
    """The camera: exposure gain, gaussian sensor noise, 8-bit quantisation. Returns uint8 BGR."""
    out = canvas * np.float32(255.0 * gain)
    out += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(noise_sigma_levels)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_crop(spec: PartSpec, scene_seed: int) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """One part in its nest as a uint8 BGR crop, and the defect's bbox_xywh (None if the part is ok).

    `scene_seed` fixes the nest texture and the sensor noise, so `render_crop(spec.clean(), s)` is
    the same picture without the defect, pixel for pixel where the defect does not reach.
    """
    rng = np.random.default_rng(scene_seed)
    background = nest_background(spec.size_px, rng)
    layer, bbox = render_layer(spec, background)
    image = expose(composite(background, layer, 0, 0), spec.lighting.gain, rng)
    return image, bbox
