"""Good-only settings chosen from the data: synthetic defects, channel sets, and the choice in the card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from models.card import read_card
from models.good_only_choice import SIZES, TAP_SETS, synthetic_defect, tap_channels
from models.padim_graph import TAP_CHANNELS_TOTAL
from tests.models.synthetic_parts import draw_part, write_parts


def test_all_taps_is_the_old_default_channel_set() -> None:
    old = np.sort(np.random.default_rng(3).permutation(TAP_CHANNELS_TOTAL)[:100])
    assert np.array_equal(tap_channels(TAP_SETS["all taps"], 3), old)
    assert np.array_equal(tap_channels(TAP_SETS["b3+b6"], 3), np.arange(56))  # 56 <= 100: all kept


def test_synthetic_defect_changes_a_small_part_of_the_image() -> None:
    rng = np.random.default_rng(0)
    image = draw_part(np.random.default_rng(1), "ok", 160)
    changed = [(synthetic_defect(image, rng) != image).any(axis=2).mean() for _ in range(12)]
    assert max(changed) < 0.1
    # a patch pasted within the flat disc of these drawn parts changes nothing; real photos have texture
    assert sum(c > 0 for c in changed) >= 9


def test_good_only_without_overrides_chooses_and_records(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = write_parts(tmp_path / "data", 20, seed=2, classes=("ok",))
    out = tmp_path / "auto.onnx"
    assert main(["train", str(data), "--mode", "good-only", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    choice = read_card(out).training["auto_choice"]
    assert choice["size"] in SIZES and choice["score_source"] in ("global", "local")
    assert choice["basis"].startswith("synthetic defects") and len(choice["candidates"]) == 16
    assert read_card(out).training["channels"] == choice["channels"]
    assert summary["validation"]["readiness"]["verdict"] == "NOT READY"  # no defect photos at all
