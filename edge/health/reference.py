"""The health reference taken at commissioning: what the fixture, the parts and the scores look like.

Built from frames of the loaded fixture as the station samples them (trigger frames: parts in their
nests), the cavity ROIs and the model's scores on good parts. Saved in a folder as

    reference.json   schema, frame size, ROIs, frame count, scalar figures (a person can read it)
    reference.npz    the arrays: median work grey, tile figures, per-cavity figures, good-part scores
    reference.png    the median frame, for the console and for a person checking what was taken

Medians over the frames, not means: a part with a defect or an odd pose in one frame does not move them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import DataError
from edge.health.features import FrameFeatures, Layout, measure

REFERENCE_SCHEMA = "moldpilot.health-reference/1"
MIN_FRAMES = 3
_ARRAYS = ("work_gray", "tile_mean", "tile_std", "plate_bgr", "fixture_contrast", "sharpness",
           "shape_spectrum", "colour_hist", "good_scores")


@dataclass(frozen=True)
class Reference:
    layout: Layout
    frames: int
    image_bgr: np.ndarray  # the median frame, uint8
    work_gray: np.ndarray
    tile_mean: np.ndarray
    tile_std: np.ndarray
    plate_bgr: np.ndarray
    fixture_contrast: np.ndarray  # 0-d
    sharpness: np.ndarray
    shape_spectrum: np.ndarray
    colour_hist: np.ndarray
    good_scores: np.ndarray  # P(defect) of good parts, float32; may be empty (no score-drift check)
    no_decision_rate: float = 0.0

    @classmethod
    def build(
        cls,
        frames_bgr: Sequence[np.ndarray],
        rois_xywh: Sequence[tuple[int, int, int, int]],
        good_scores: Sequence[float] = (),
        no_decision_rate: float = 0.0,
    ) -> Reference:
        """The reference of `frames_bgr` (loaded fixture, at least MIN_FRAMES, ideally 10+ shots)."""
        if len(frames_bgr) < MIN_FRAMES:
            raise DataError(f"a health reference needs at least {MIN_FRAMES} frames of the loaded fixture, "
                            f"got {len(frames_bgr)}")
        h, w = frames_bgr[0].shape[:2]
        layout = Layout.of((w, h), rois_xywh)
        feats: list[FrameFeatures] = [measure(f, layout) for f in frames_bgr]

        def median(name: str) -> np.ndarray:
            return np.median(np.stack([getattr(f, name) for f in feats]), axis=0).astype(np.float32)

        return cls(
            layout,
            len(frames_bgr),
            np.median(np.stack(frames_bgr), axis=0).astype(np.uint8),
            median("work_gray"),
            median("tile_mean"),
            median("tile_std"),
            median("plate_bgr"),
            median("fixture_contrast"),
            median("sharpness"),
            _normalised(np.mean(np.stack([f.shape_spectrum for f in feats]), axis=0)),
            np.mean(np.stack([f.colour_hist for f in feats]), axis=0).astype(np.float32),
            np.asarray(good_scores, np.float32),
            float(no_decision_rate),
        )

    def save(self, folder: Path) -> Path:
        """Write reference.json, reference.npz and reference.png into `folder` (created); returns it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / "reference.npz", **{name: getattr(self, name) for name in _ARRAYS})
        if not cv2.imwrite(str(folder / "reference.png"), self.image_bgr):
            raise DataError(f"cannot write {folder / 'reference.png'}")
        doc = {
            "schema": REFERENCE_SCHEMA,
            "frame_wh": list(self.layout.frame_wh),
            "rois_xywh": [list(r) for r in self.layout.rois_xywh],
            "frames": self.frames,
            "plate_bgr": [round(float(v), 2) for v in self.plate_bgr],
            "sharpness": [round(float(v), 5) for v in self.sharpness],
            "good_scores": len(self.good_scores),
            "no_decision_rate": self.no_decision_rate,
        }
        (folder / "reference.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> Reference:
        folder = Path(folder)
        try:
            doc = json.loads((folder / "reference.json").read_text(encoding="utf-8"))
            arrays = np.load(folder / "reference.npz")
            image = cv2.imread(str(folder / "reference.png"), cv2.IMREAD_COLOR)
        except (OSError, ValueError) as exc:
            raise DataError(f"{folder} holds no readable health reference ({exc}); take one with "
                            "'moldpilot health reference'") from None
        if doc.get("schema") != REFERENCE_SCHEMA or image is None:
            raise DataError(f"{folder}/reference.json is not a {REFERENCE_SCHEMA} reference with its "
                            "reference.png; take the reference again")
        layout = Layout.of(tuple(doc["frame_wh"]), [tuple(r) for r in doc["rois_xywh"]])
        return cls(layout, doc["frames"], image, *(arrays[name] for name in _ARRAYS),
                   no_decision_rate=float(doc["no_decision_rate"]))


def _normalised(shapes: np.ndarray) -> np.ndarray:
    """Each cavity's mean shape spectrum back to zero mean and unit variance, as the live ones are."""
    flat = shapes.reshape(len(shapes), -1)
    flat = (flat - flat.mean(axis=1, keepdims=True)) / np.maximum(flat.std(axis=1, keepdims=True), 1e-3)
    return flat.reshape(shapes.shape).astype(np.float32)
