"""Latency percentiles, computed one way for the pipeline's snapshot, the report and the bench."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

PERCENTILES = (50, 90, 99)


def percentiles(values: Iterable[float], digits: int = 3) -> dict[str, float]:
    """{"n", "p50", "p90", "p99", "max"} of `values` (numpy's linear interpolation), rounded to
    `digits`; {"n": 0} when there are none."""
    array = np.fromiter(values, np.float64)
    if array.size == 0:
        return {"n": 0}
    out: dict[str, float] = {"n": int(array.size)}
    for p, value in zip(PERCENTILES, np.percentile(array, PERCENTILES), strict=True):
        out[f"p{p}"] = round(float(value), digits)
    out["max"] = round(float(array.max()), digits)
    return out
