"""What the health checks measure on one frame, the same way for the reference and for live frames.

Frame-wide figures (registration, tiles, lighting) are taken on a small grey "work" image (longest side
WORK_SIDE_PX), which keeps a check to a few milliseconds on a 1080p frame and averages sensor noise
away; per-cavity figures (sharpness, the part's look) on the full-resolution crop, where the detail is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

WORK_SIDE_PX = 256
TILE_GRID = 8  # the view as 8 x 8 tiles for "a large part of it went dark or flat"
TILE_SMOOTH_SIGMA_PX = 2.5  # tiles judge coarse contrast (a cover over the view), not fine focus
# The fixture's detail, for a haze: a band-pass (difference of Gaussians) coarse enough that lost
# focus barely touches it and fine enough that an uneven veil of haze (smooth) is not mistaken for
# detail; over the fixture's brightness, so a lamp's gain leaves it.
HAZE_BAND_SIGMAS_PX = (3.0, 10.0)
SHARPNESS_SMOOTH_SIGMA_PX = 1.0  # take sensor noise out of the sharpness figure
# A part's shape as the spectrum of its picture around the nest centre: the crop (smoothed, so lost
# focus barely changes it) unrolled into polar samples, and per radius the magnitudes of angular
# harmonics 2-32. A magnitude does not change when the part turns, so the +-8 degree pose jitter leaves
# it; teeth, knurls, pins and corners are harmonics, so another part type changes it a lot.
SHAPE_SMOOTH_SIGMA_PX = 2.0
POLAR_RADII, POLAR_ANGLES = 24, 128
HARMONICS = range(2, 33)
HUE_BINS, SAT_BINS = 18, 8
# Below this saturation (of 255) a pixel is grey: its hue is noise that a slight lamp tint swings
# around the wheel, so grey pixels share one bin instead of spreading over the hue bins.
GREY_SATURATION = 40
COLOUR_BINS = HUE_BINS * SAT_BINS + 1
PART_MARGIN_SHARE = 0.12


@dataclass(frozen=True)
class Layout:
    """Where things are in a frame: cavity ROIs (full px), the work scale and the plate outside the nests."""

    frame_wh: tuple[int, int]
    rois_xywh: tuple[tuple[int, int, int, int], ...]
    scale: float  # work px per frame px
    plate_mask: np.ndarray  # work image, True outside every ROI
    fixture_mask: np.ndarray  # work image, True except where parts lie (the middle of each ROI)
    tile_fixture_share: np.ndarray  # [TILE_GRID, TILE_GRID] share of each tile that is fixture

    @classmethod
    def of(cls, frame_wh: tuple[int, int], rois_xywh: Sequence[tuple[int, int, int, int]]) -> Layout:
        w, h = frame_wh
        scale = min(1.0, WORK_SIDE_PX / max(w, h))
        work_wh = (max(1, round(w * scale)), max(1, round(h * scale)))
        plate = _outside(work_wh, rois_xywh, scale, 0.0)
        # A part fills about the middle 70 % of its ROI and moves there from shot to shot; the nest's
        # edge and the plate around it do not, so they are what registration aligns.
        fixture = _outside(work_wh, rois_xywh, scale, PART_MARGIN_SHARE)
        share, _ = tile_stats(fixture.astype(np.float32))
        return cls((w, h), tuple(tuple(r) for r in rois_xywh), scale, plate, fixture, share)

    @property
    def work_wh(self) -> tuple[int, int]:
        return self.plate_mask.shape[1], self.plate_mask.shape[0]


def _outside(
    work_wh: tuple[int, int],
    rois_xywh: Sequence[tuple[int, int, int, int]],
    scale: float,
    margin_share: float,
) -> np.ndarray:
    """True outside every ROI shrunk by `margin_share` of its side at each edge (all True if nothing is)."""
    mask = np.ones((work_wh[1], work_wh[0]), bool)
    for x, y, rw, rh in rois_xywh:
        mx, my = margin_share * rw, margin_share * rh
        x0, y0 = int((x + mx) * scale), int((y + my) * scale)
        x1, y1 = int(np.ceil((x + rw - mx) * scale)), int(np.ceil((y + rh - my) * scale))
        mask[y0:y1, x0:x1] = False
    if not mask.any():  # the ROIs cover the whole view: use all of it
        mask[:] = True
    return mask


@dataclass(frozen=True)
class FrameFeatures:
    """One frame's figures. Tiles are [TILE_GRID, TILE_GRID]; per-cavity arrays have one row per ROI."""

    work_gray: np.ndarray  # float32, grey levels 0..255
    tile_mean: np.ndarray
    tile_std: np.ndarray
    plate_bgr: np.ndarray  # mean B, G, R of the plate, grey levels
    fixture_contrast: float  # band-pass detail of the fixture over its brightness (see fixture_contrast)
    sharpness: np.ndarray  # [K] var(Laplacian) / var(image) of the smoothed crop: contrast-free
    shape_spectrum: np.ndarray  # [K, len(HARMONICS), POLAR_RADII], zero mean and unit variance
    colour_hist: np.ndarray  # [K, COLOUR_BINS]: hue x saturation of coloured pixels, then grey; sums to 1


def measure(image_bgr: np.ndarray, layout: Layout) -> FrameFeatures:
    """The figures of one H x W x 3 uint8 BGR frame laid out as `layout` says."""
    h, w = image_bgr.shape[:2]
    if (w, h) != layout.frame_wh:
        raise ValueError(f"frame is {w}x{h} px but the health reference was taken at "
                         f"{layout.frame_wh[0]}x{layout.frame_wh[1]}")
    work_bgr = cv2.resize(image_bgr, layout.work_wh, interpolation=cv2.INTER_AREA).astype(np.float32)
    work_gray = cv2.cvtColor(work_bgr, cv2.COLOR_BGR2GRAY)
    tile_mean, tile_std = tile_stats(cv2.GaussianBlur(work_gray, (0, 0), TILE_SMOOTH_SIGMA_PX))
    crops = [image_bgr[y : y + rh, x : x + rw] for x, y, rw, rh in layout.rois_xywh]
    shapes, hists = zip(*(part_descriptor(c) for c in crops), strict=True) if crops else ((), ())
    return FrameFeatures(
        work_gray,
        tile_mean,
        tile_std,
        work_bgr[layout.plate_mask].mean(axis=0),
        fixture_contrast(work_gray, layout.fixture_mask),
        np.array([sharpness(c) for c in crops], np.float32),
        np.array(shapes, np.float32).reshape(len(crops), len(HARMONICS), POLAR_RADII),
        np.array(hists, np.float32).reshape(len(crops), COLOUR_BINS),
    )


def tile_stats(gray: np.ndarray, grid: int = TILE_GRID) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each of grid x grid tiles of `gray`."""
    h, w = gray.shape
    ys, xs = np.linspace(0, h, grid + 1).astype(int), np.linspace(0, w, grid + 1).astype(int)
    mean, std = np.empty((grid, grid), np.float32), np.empty((grid, grid), np.float32)
    for r in range(grid):
        for c in range(grid):
            m, s = cv2.meanStdDev(gray[ys[r] : ys[r + 1], xs[c] : xs[c + 1]])
            mean[r, c], std[r, c] = m[0, 0], s[0, 0]
    return mean, std


def fixture_contrast(work_gray: np.ndarray, fixture_mask: np.ndarray) -> float:
    """Standard deviation of the fixture's band-pass detail over its mean brightness (HAZE_BAND_SIGMAS_PX)."""
    fine, coarse = (cv2.GaussianBlur(work_gray, (0, 0), sigma) for sigma in HAZE_BAND_SIGMAS_PX)
    detail = (fine - coarse)[fixture_mask]
    return float(detail.std()) / max(float(work_gray[fixture_mask].mean()), 1.0)


def sharpness(crop_bgr: np.ndarray) -> float:
    """Variance of the Laplacian over the variance of the picture, both of the smoothed grey crop.

    Dividing by the picture's own contrast makes the figure blind to a lamp's gain and a haze's veil,
    so it falls only when edges soften (focus); smoothing first keeps sensor noise, which focus does not
    blur, from passing for sharp detail.
    """
    gray = cv2.GaussianBlur(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0),
                            SHARPNESS_SMOOTH_SIGMA_PX)
    contrast = float(gray.var())
    return float(cv2.Laplacian(gray, cv2.CV_32F).var()) / max(contrast, 1e-3)


def part_descriptor(crop_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A crop's look: its shape spectrum (normalised, see HARMONICS) and its colour histogram."""
    gray = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), SHAPE_SMOOTH_SIGMA_PX)
    h, w = gray.shape
    polar = cv2.warpPolar(gray, (POLAR_RADII, POLAR_ANGLES), (w / 2, h / 2), 0.48 * min(w, h),
                          cv2.WARP_POLAR_LINEAR)  # rows: angle, columns: radius
    spectrum = np.log1p(np.abs(np.fft.rfft(polar, axis=0))[HARMONICS.start : HARMONICS.stop])
    spectrum = (spectrum - spectrum.mean()) / max(float(spectrum.std()), 1e-3)
    hsv = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2HSV)
    coloured = (hsv[..., 1] >= GREY_SATURATION).astype(np.uint8)
    hist = cv2.calcHist([hsv], [0, 1], coloured, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
    hist = np.append(hist, coloured.size - int(coloured.sum()))
    return spectrum, hist / max(float(hist.sum()), 1.0)
