"""How far the camera's view moved against the reference: translation and rotation, OpenCV only.

Phase correlation finds the translation in one FFT even for a large knock; ECC (enhanced correlation
coefficient, a Euclidean warp) then refines it and adds the rotation, starting from that translation
so it does not have to search. ECC is zero-mean and normalised, so a lamp's gain does not move it. Both
run on the small grey work image: the fixture (nest edges, plate) is the same in every frame, while
each shot's parts jitter a few px and degrees around their nests and average out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
_ECC_GAUSS_PX = 5


@dataclass(frozen=True)
class ViewMotion:
    """The view's motion in frame px and degrees. `corner_shift_px`: how far the worst frame corner moved,
    which puts a shift and a rotation on one scale (what a cavity ROI near the edge suffers)."""

    shift_px: float  # of the frame centre
    angle_deg: float
    corner_shift_px: float
    refined: bool  # False when ECC did not converge and only phase correlation's translation is known


def view_motion(
    reference_gray: np.ndarray, live_gray: np.ndarray, scale: float, fixture_mask: np.ndarray
) -> ViewMotion:
    """Motion of `live_gray` against `reference_gray` (work images, float32), converted to frame px.

    Only the fixture (`fixture_mask`: where no part lies) is aligned: parts jitter from shot to shot.
    """
    h, w = reference_gray.shape
    soft_mask = cv2.GaussianBlur(fixture_mask.astype(np.float32), (0, 0), 2.0)
    window = cv2.createHanningWindow((w, h), cv2.CV_32F) * soft_mask
    # Copies: OpenCV 5.0's phaseCorrelate windows its inputs in place, which would eat the reference.
    (dx, dy), _response = cv2.phaseCorrelate(reference_gray.copy(), live_gray.copy(), window)
    warp = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    refined = True
    try:
        _, warp = cv2.findTransformECC(reference_gray, live_gray, warp, cv2.MOTION_EUCLIDEAN, _ECC_CRITERIA,
                                       fixture_mask.astype(np.uint8), _ECC_GAUSS_PX)
    except cv2.error:  # no convergence (a blocked or blank view): keep the translation
        refined = False
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1], [w / 2, h / 2, 1]], np.float32)
    moved = corners @ warp.T.astype(np.float32)
    shifts = np.hypot(*(moved - corners[:, :2]).T) / scale
    angle = float(np.degrees(np.arctan2(warp[1, 0], warp[0, 0])))
    return ViewMotion(float(shifts[4]), angle, float(shifts[:4].max()), refined)
