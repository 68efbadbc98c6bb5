"""Test-time views: used only when the averaged out-of-fold scores beat one view by the margin."""

from __future__ import annotations

import numpy as np

from models.features import TRAIN_VIEWS
from models.graph import model_graph, tap_channels
from models.selection import choose_test_views, flip_average


def oof_with_view_noise(noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """[5, 200, 2] out-of-fold probabilities: the right class at 0.8, each view off by its own noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(200) % 2
    p_defect = np.clip(0.2 + 0.6 * labels + rng.normal(0, noise, (5, 200)), 0.01, 0.99)
    return np.stack([1 - p_defect, p_defect], axis=-1), labels


def test_views_are_used_when_their_average_cancels_per_view_noise() -> None:
    model = model_graph(32, np.zeros((2, 6 * sum(tap_channels())), np.float32), np.zeros(2, np.float32))
    names = list(TRAIN_VIEWS)
    noisy, labels = oof_with_view_noise(0.4)
    chosen = choose_test_views(noisy, labels, names, model, (32, 32))
    assert chosen["used"] and chosen["cv_log_loss_views_averaged"] < chosen["cv_log_loss_one_view"]
    same = np.repeat(noisy[:1], 5, axis=0)  # every view scores alike: averaging gains nothing
    assert not choose_test_views(same, labels, names, model, (32, 32))["used"]
    assert not choose_test_views(noisy, labels, names, model, (32, 32), latency_budget_ms=0.0)["used"]
    assert np.allclose(flip_average(same, names), same[0])
