"""The new mold (sim.parts.NEW_SHAPES: a violet display bezel) that no shipped model has seen: chosen by
name only, deterministic from the seed, labelled like the others; "mixed" and the older shapes keep
every byte they had."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.cli import main
from sim.dataset import read_labels, render_item
from sim.footage import FootagePlan, FootageSettings
from sim.parts import NEW_SHAPES, SHAPES
from sim.shot import NEW_PALETTE_BGR, PALETTE_BGR, sample_color, sample_shape
from sim.timeline import read_timeline, timeline_path


def test_mixed_never_draws_the_new_design_and_the_old_colours_are_unchanged() -> None:
    drawn = {sample_shape(np.random.default_rng(i), "mixed") for i in range(300)}
    assert drawn == set(SHAPES) and not drawn & set(NEW_SHAPES)
    for i in range(50):  # the same draws give the old palette for old shapes, the new one for the bezel
        old, new = (sample_color(np.random.default_rng(i), shape) for shape in ("cap", "bezel"))
        assert min(np.abs(np.subtract(old, c)).max() for c in PALETTE_BGR) <= 0.04
        assert min(np.abs(np.subtract(new, c)).max() for c in NEW_PALETTE_BGR) <= 0.04


def test_bezel_crops_are_deterministic_and_labelled() -> None:
    a, row = render_item(41, 3, shape="bezel", defect_rate=1.0, mold=2)
    b, again = render_item(41, 3, shape="bezel", defect_rate=1.0, mold=2)
    assert np.array_equal(a, b) and row == again
    assert row.shape == "bezel" and row.label == "ng" and row.defect and row.bbox_xywh
    other, _ = render_item(41, 4, shape="bezel", defect_rate=1.0, mold=2)
    assert not np.array_equal(a, other)


def test_sim_cli_writes_bezel_footage_and_datasets(tmp_path: Path) -> None:
    footage = tmp_path / "bezel.avi"
    assert main(["sim", "footage", "--out", str(footage), "--shots", "3", "--seed", "5", "--shape", "bezel",
                 "--defect-rate", "0.5"]) == 0
    timeline = read_timeline(timeline_path(footage))
    assert timeline.shape == "bezel" and len(timeline.shots) == 3
    assert all(c.label in ("ok", "ng") for s in timeline.shots for c in s.cavities)
    assert any(c.defect for s in timeline.shots for c in s.cavities)
    data = tmp_path / "data"
    assert main(["sim", "dataset", "--out", str(data), "--count", "12", "--seed", "5", "--shape", "bezel",
                 "--mold", "1"]) == 0
    rows = read_labels(data)
    assert len(rows) == 12 and {r.shape for r in rows} == {"bezel"}
    assert all((data / r.file).is_file() for r in rows)


def test_recordings_with_one_mold_seed_show_the_same_mold_with_other_parts() -> None:
    def plan(seed: int, mold_seed: int | None = None) -> FootagePlan:
        return FootagePlan(FootageSettings(shots=2, seed=seed, shape="bezel", mold_seed=mold_seed))

    monday, tuesday = plan(11, mold_seed=7), plan(12, mold_seed=7)
    assert monday.mold == tuesday.mold  # one mold: design and resin colour
    # other parts: each placed and shaded from its own recording's seed
    assert not np.array_equal(monday.shot(0).layers[0].alpha, tuesday.shot(0).layers[0].alpha)
    assert plan(11).mold != plan(12).mold  # without it each seed draws its own mold, as before
    assert plan(7).mold == plan(8, mold_seed=7).mold  # the mold drawn is the one seed 7 draws
