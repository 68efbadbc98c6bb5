"""The bounds of the health checks: sane defaults a controls engineer never needs to touch.

One frozen dataclass, so station.yaml can expose it later as a pydantic model field by field (every
field has a default, a unit in its name and a comment saying why that value). The defaults were set on
simulator footage: well outside what a healthy line does (pose jitter of +-4 px and +-8 degrees per
part, lamp gain drifting +-10 %, lamp direction +-20 degrees) and inside what the smallest fault the
issue names does; `benchmarks/bench_health.py` shows both margins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HealthThresholds:
    # Camera moved: the worst corner of the view moved this far, in frame px; whichever is larger of a
    # floor and a share of the smallest cavity ROI (a model sees a crop; 3 % of it is beyond the
    # placement jitter it was trained on).
    moved_min_px: float = 3.0
    moved_roi_share: float = 0.03
    # Blocked / dirty lens: the share of the view whose tiles went dark (mean below dark_ratio of the
    # reference) or flat (contrast relative to brightness below flat_ratio of the reference's).
    blocked_view_share: float = 0.15
    tile_dark_ratio: float = 0.25
    tile_flat_ratio: float = 0.45
    # A tile whose reference contrast is below this (grey levels) is bare plate: "flat" says nothing there.
    tile_min_contrast_levels: float = 2.0
    # Dirty lens: the fixture lost this share of its detail (a healthy line: within +-2 %; focus lost
    # at sigma 4 px, which is BLURRED's: up to 30 %; the faintest haze simulated, 0.3: 43 %).
    haze_contrast_loss: float = 0.36
    # Focus: the median cavity's sharpness fell by this share of its reference.
    blurred_sharpness_loss: float = 0.45
    # Lighting: the plate's brightness changed by this share, or its colour (the B, G, R shares of its
    # brightness) moved by this much; the lamp's normal drift is +-10 % and colourless.
    lighting_brightness_change: float = 0.2
    lighting_colour_shift: float = 0.02
    # Different mold: the median cavity's part no longer looks like the reference part, by shape
    # (1 - correlation of the shape spectra: a healthy line stays below 0.15, focus lost at sigma 4 px
    # about 0.2, another part type 0.4 and more) or colour (Bhattacharyya distance of the colour
    # histograms; a healthy line stays near 0.05, a resin of another colour reaches 0.4 and more).
    mold_shape_distance: float = 0.3
    mold_colour_distance: float = 0.3
    # Score drift: population stability index of the live window against the good-part scores
    # (0.25 is the customary "significant shift"), or a NO_DECISION rate this far above the reference.
    drift_psi: float = 0.25
    drift_window_scores: int = 200
    drift_min_scores: int = 60
    no_decision_rate: float = 0.2
    # Hysteresis, in samples (the station samples about one frame per shot): raise after this many
    # consecutive active samples, clear after this many consecutive inactive ones.
    raise_after_samples: int = 2
    clear_after_samples: int = 3
    # Camera lost: no frame offered to the watch for this long. None switches it off: a triggered
    # station whose line stops offers no frames and has not lost its camera (the source's NO_FRAME
    # verdicts say that); free-run stations keep it.
    camera_lost_after_s: float | None = 5.0

    def __post_init__(self) -> None:
        for name in ("raise_after_samples", "clear_after_samples", "drift_window_scores", "drift_min_scores"):
            if getattr(self, name) < 1:
                raise ValueError(f"HealthThresholds.{name} must be >= 1, got {getattr(self, name)}")
        if self.drift_min_scores > self.drift_window_scores:
            raise ValueError(f"HealthThresholds.drift_min_scores ({self.drift_min_scores}) cannot exceed "
                             f"drift_window_scores ({self.drift_window_scores})")
