"""Every defect, on every shape (the new bezel too), visibly changes the pixels inside its bbox and nothing
outside it."""

from __future__ import annotations

import numpy as np
import pytest

from sim.defects import DEFECT_NAMES, apply_defect
from sim.parts import ALL_SHAPES, Pose, build_part_maps, sample_design
from sim.render import BBOX_DIFF_LEVEL, VISIBLE_LEVEL, VISIBLE_MIN_PX, Lighting, PartSpec, render_crop

SUBTLE, OBVIOUS = 0.15, 1.0


def spec_for(shape: str, defect: str, severity: float, seed: int = 3,
             color_bgr: tuple[float, float, float] = (0.65, 0.35, 0.12)) -> PartSpec:
    design = sample_design(shape, np.random.default_rng(seed))  # type: ignore[arg-type]
    return PartSpec(
        design,
        160,
        Pose(4.0, 2.0, -1.5, 1.01),
        color_bgr,
        Lighting(120.0, 50.0, 1.05),
        defect,
        severity,
        defect_seed=seed,
    )


def diff_to_clean(spec: PartSpec) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    image, bbox = render_crop(spec, scene_seed=11)
    clean, clean_bbox = render_crop(spec.clean(), scene_seed=11)
    assert bbox is not None and clean_bbox is None
    return np.abs(image.astype(np.int16) - clean.astype(np.int16)).max(axis=2), bbox


@pytest.mark.parametrize("shape", ALL_SHAPES)
@pytest.mark.parametrize("defect", DEFECT_NAMES)
def test_subtle_defect_changes_pixels_inside_its_bbox_only(shape: str, defect: str) -> None:
    diff, (x, y, w, h) = diff_to_clean(spec_for(shape, defect, SUBTLE))
    inside = np.zeros_like(diff, bool)
    inside[y : y + h, x : x + w] = True
    # Visible: a few dozen pixels change by more than the sensor noise (sigma 2.5) could explain.
    assert (diff[inside] >= 12).sum() >= 15, f"{defect} on {shape} barely visible: max {diff.max()}"
    # Localised: outside the bbox only sub-threshold changes (the noise is the same in both renders).
    assert diff[~inside].max() <= BBOX_DIFF_LEVEL * 255 * 1.1 + 1


@pytest.mark.parametrize("defect", DEFECT_NAMES)
def test_severity_maps_to_a_bigger_change(defect: str) -> None:
    subtle, _ = diff_to_clean(spec_for("gear", defect, SUBTLE))
    obvious, _ = diff_to_clean(spec_for("gear", defect, OBVIOUS))
    assert obvious.astype(np.int64).sum() > 1.5 * subtle.astype(np.int64).sum()


WHITE_BGR = (0.86, 0.85, 0.89)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("defect", DEFECT_NAMES)
def test_every_placement_is_visible_even_on_a_white_housing(defect: str, seed: int) -> None:
    """A random placement the camera cannot see (a whitened scratch on white plastic, a sink mark in a
    window) is drawn again: a crop labelled NG always shows its defect."""
    diff, _ = diff_to_clean(spec_for("housing", defect, SUBTLE, seed, WHITE_BGR))
    # Sensor noise differs by at most a few levels between the two renders (same scene seed).
    assert (diff > VISIBLE_LEVEL * 255 - 8).sum() >= VISIBLE_MIN_PX, f"{defect}: max change {diff.max()}"


@pytest.mark.parametrize("seed", range(6))
def test_a_scratch_on_a_white_part_is_a_dark_groove(seed: int) -> None:
    """Stress whitening is invisible on white plastic: there the scratch darkens (the defect function
    itself, before the renderer's visibility check could hide a wrong polarity by drawing again)."""
    design = sample_design("cap", np.random.default_rng(seed))
    maps, geometry = build_part_maps(design, 160, Pose(), WHITE_BGR)
    before = maps.albedo.copy()
    apply_defect("scratch", maps, geometry, SUBTLE, np.random.default_rng(seed))
    assert (maps.albedo <= before + 1e-6).all()
    assert (before - maps.albedo).max() > 0.5


def test_unknown_defect_is_refused() -> None:
    maps, geometry = build_part_maps(
        sample_design("cap", np.random.default_rng(0)), 64, Pose(), (0.5, 0.5, 0.5)
    )
    with pytest.raises(ValueError, match="unknown defect"):
        apply_defect("bubble", maps, geometry, 0.5, np.random.default_rng(0))
