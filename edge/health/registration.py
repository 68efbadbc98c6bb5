"""How far the camera's view moved against the reference: translation and rotation, OpenCV only.

Phase correlation finds the translation in one FFT even for a large knock; ECC (enhanced correlation
coefficient, a Euclidean warp) then refines it and adds the rotation, starting from that translation
so it does not have to search. ECC is zero-mean and normalised, so a lamp's gain does not move it. Both
run on the small grey work image: the fixture (nest edges, plate) is the same in every frame, while
each shot's parts jitter a few px and degrees around their nests and average out.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import cv2
import numpy as np

_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
_ECC_GAUSS_PX = 5
# Undoing a real motion must raise the fixture's correlation with the reference by at least this much.
MIN_ALIGNMENT_GAIN = 0.05


@dataclass(frozen=True)
class ViewMotion:
    """The view's motion in frame px and degrees. `corner_shift_px`: how far the worst frame corner moved,
    which puts a shift and a rotation on one scale (what a cavity ROI near the edge suffers).
    `alignment_gain`: how much undoing the estimated motion raised the fixture's correlation with the
    reference; a motion that does not explain the picture better than no motion is reported as none."""

    shift_px: float  # of the frame centre
    angle_deg: float
    corner_shift_px: float
    alignment_gain: float


def view_motion(
    reference_gray: np.ndarray, live_gray: np.ndarray, scale: float, fixture_mask: np.ndarray
) -> ViewMotion:
    """Motion of `live_gray` against `reference_gray` (work images, float32), converted to frame px.

    Only the fixture (`fixture_mask`: where no part lies) is aligned: parts jitter from shot to shot.
    A cover or a haze over part of the view drags both estimators to a motion that is not there; the
    check against the reference after undoing it (a real knock: +0.25 and more, a cover: negative on
    the simulator) tells the two apart.
    """
    h, w = reference_gray.shape
    soft_mask = cv2.GaussianBlur(fixture_mask.astype(np.float32), (0, 0), 2.0)
    window = cv2.createHanningWindow((w, h), cv2.CV_32F) * soft_mask
    # Copies: OpenCV 5.0's phaseCorrelate windows its inputs in place, which would eat the reference.
    (dx, dy), _response = cv2.phaseCorrelate(reference_gray.copy(), live_gray.copy(), window)
    warp = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    mask_u8 = fixture_mask.astype(np.uint8)
    with contextlib.suppress(cv2.error):  # no convergence: keep phase correlation's translation
        _, warp = cv2.findTransformECC(reference_gray, live_gray, warp, cv2.MOTION_EUCLIDEAN, _ECC_CRITERIA,
                                       mask_u8, _ECC_GAUSS_PX)
    undone = cv2.warpAffine(live_gray, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REFLECT101)
    gain = _correlation(reference_gray, undone, fixture_mask) - _correlation(reference_gray, live_gray,
                                                                            fixture_mask)
    if gain < MIN_ALIGNMENT_GAIN:
        return ViewMotion(0.0, 0.0, 0.0, gain)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1], [w / 2, h / 2, 1]], np.float32)
    moved = corners @ warp.T.astype(np.float32)
    shifts = np.hypot(*(moved - corners[:, :2]).T) / scale
    angle = float(np.degrees(np.arctan2(warp[1, 0], warp[0, 0])))
    return ViewMotion(float(shifts[4]), angle, float(shifts[:4].max()), gain)


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Normalised cross-correlation of `a` and `b` where `mask` is True."""
    x, y = a[mask] - a[mask].mean(), b[mask] - b[mask].mean()
    return float((x * y).sum() / max(float(np.sqrt((x * x).sum() * (y * y).sum())), 1e-6))
