"""The camera checks: one sampled frame's figures against the reference, each as a CheckResult.

Pure functions of (FrameFeatures, Reference, HealthThresholds): no state, no clock, no threads; the
watch adds the hysteresis. Every figure is phrased so that larger is worse (see CheckResult).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.health.conditions import CheckResult, Condition
from edge.health.features import FrameFeatures
from edge.health.reference import Reference
from edge.health.registration import view_motion
from edge.health.thresholds import HealthThresholds


def check_camera_moved(feats: FrameFeatures, ref: Reference, th: HealthThresholds) -> CheckResult:
    motion = view_motion(ref.work_gray, feats.work_gray, ref.layout.scale, ref.layout.fixture_mask)
    rois = ref.layout.rois_xywh
    roi_side_px = min((min(w, h) for _, _, w, h in rois), default=min(ref.layout.frame_wh))
    bound = max(th.moved_min_px, th.moved_roi_share * roi_side_px)
    return CheckResult(Condition.CAMERA_MOVED, "corner_shift_px", motion.corner_shift_px, bound,
                       {"shift_px": motion.shift_px, "angle_deg": motion.angle_deg,
                        "alignment_gain": motion.alignment_gain})


def check_blocked(feats: FrameFeatures, ref: Reference, th: HealthThresholds) -> CheckResult:
    """A cover over part of the view, or a haze over all of it, whichever is further past its bound.

    Judged on the fixture's tiles: parts differ from shot to shot (and a new mold's parts are another
    check's business). Contrast is the tile's std over its mean: a dimmer lamp lowers both and leaves
    it, a veil of haze adds light without detail and lowers it, as does a cover.
    - view_share_lost: the share of tiles gone dark or flat. Each tile is compared with the least of
      its reference neighbourhood (3 x 3 tiles), so a nest edge that a knocked camera moved into the
      next tile does not pass for a covered one.
    - contrast_loss: the share of the fixture's detail lost (features.fixture_contrast), the veil of a
      dirty lens; a new mold's parts or a shifted view do not lower it.
    """
    judged = ref.layout.tile_fixture_share >= 0.5
    if not judged.any():
        judged = np.ones_like(judged)
    live_contrast = feats.tile_std / np.maximum(feats.tile_mean, 1.0)
    ref_contrast = ref.tile_std / np.maximum(ref.tile_mean, 1.0)
    dark = judged & (feats.tile_mean < th.tile_dark_ratio * _least_around(ref.tile_mean))
    has_detail = _least_around(ref.tile_std) >= th.tile_min_contrast_levels
    flat = judged & has_detail & (live_contrast < th.tile_flat_ratio * _least_around(ref_contrast))
    lost_share = float((dark | flat).sum() / judged.sum())
    contrast_loss = 1.0 - feats.fixture_contrast / max(float(ref.fixture_contrast), 1e-6)
    return CheckResult.worst(
        Condition.BLOCKED,
        {"view_share_lost": (lost_share, th.blocked_view_share),
         "contrast_loss": (contrast_loss, th.haze_contrast_loss)},
        {"view_share_lost": lost_share, "contrast_loss": contrast_loss},
    )


def _least_around(tiles: np.ndarray) -> np.ndarray:
    """Each tile's least value over its 3 x 3 neighbourhood."""
    return cv2.erode(tiles, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)


def check_blurred(feats: FrameFeatures, ref: Reference, th: HealthThresholds) -> CheckResult:
    """Sharpness lost by the median cavity: blur hits every nest, a defect or an odd part only one."""
    ratios = feats.sharpness / np.maximum(ref.sharpness, 1e-6)
    loss = 1.0 - float(np.median(ratios)) if len(ratios) else 0.0
    return CheckResult(Condition.BLURRED, "sharpness_loss", loss, th.blurred_sharpness_loss,
                       {f"cavity_{i + 1}_sharpness_ratio": float(r) for i, r in enumerate(ratios)})


def check_lighting(feats: FrameFeatures, ref: Reference, th: HealthThresholds) -> CheckResult:
    """The plate (outside the nests) against the reference: brightness and colour, whichever is worse.

    Brightness is the median of the pixel ratios, so a part, a hand or a shadow on some of the plate
    does not move it; colour is the shift of the B, G, R shares, which a change of gain leaves alone.
    """
    mask = ref.layout.plate_mask
    ratio = float(np.median(feats.work_gray[mask] / np.maximum(ref.work_gray[mask], 1.0)))
    brightness_change = abs(ratio - 1.0)
    shares_live = feats.plate_bgr / max(float(feats.plate_bgr.sum()), 1e-3)
    shares_ref = ref.plate_bgr / max(float(ref.plate_bgr.sum()), 1e-3)
    colour_shift = float(np.abs(shares_live - shares_ref).max())
    return CheckResult.worst(
        Condition.LIGHTING,
        {"brightness_change": (brightness_change, th.lighting_brightness_change),
         "colour_shift": (colour_shift, th.lighting_colour_shift)},
        {"brightness_ratio": ratio, "colour_shift": colour_shift},
    )


def check_mold(feats: FrameFeatures, ref: Reference, th: HealthThresholds) -> CheckResult:
    """The median cavity's part against the reference part: shape or colour, whichever is worse."""
    if not len(feats.sharpness):
        return CheckResult(Condition.MOLD_CHANGED, "shape_distance", 0.0, th.mold_shape_distance)
    count = len(feats.shape_spectrum)
    correlation = (feats.shape_spectrum * ref.shape_spectrum).reshape(count, -1).mean(axis=1)
    shape = float(np.median(1.0 - correlation))
    colour = float(np.median([
        cv2.compareHist(live, reference, cv2.HISTCMP_BHATTACHARYYA)
        for live, reference in zip(feats.colour_hist, ref.colour_hist, strict=True)
    ]))
    return CheckResult.worst(
        Condition.MOLD_CHANGED,
        {"shape_distance": (shape, th.mold_shape_distance),
         "colour_distance": (colour, th.mold_colour_distance)},
        {"shape_distance": shape, "colour_distance": colour},
    )


FRAME_CHECKS = (check_camera_moved, check_blocked, check_blurred, check_lighting, check_mold)
