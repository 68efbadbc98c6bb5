"""Station.apply_rois / Pipeline.swap_cavities without a browser: new ROIs mid-run, no verdict lost,
every frame judged wholly on the old layout or wholly on the new one."""

from __future__ import annotations

from collections.abc import Callable

from edge.config import CavitySection
from tests.edge.console.harness import ConsoleRun
from tests.waiting import wait_until


def test_rois_applied_mid_run_lose_no_verdict_and_never_mix_layouts(
        console_run: Callable[..., ConsoleRun]) -> None:
    run = console_run(shots=8, threshold=0.0)  # every part NG: each verdict carries its crop's ROI
    station = run.station
    assert station is not None
    old = [c.roi_xywh for c in station.cavities]
    wait_until(lambda: len(run.memory.verdicts) >= 40, "some verdicts on the old layout")
    new = [(x + 4, y + 4, w - 8, h - 8) for x, y, w, h in old]  # type: ignore[misc]
    station.apply_rois([CavitySection(id=i + 1, roi=roi) for i, roi in enumerate(new)])
    assert [c.roi_xywh for c in station.pipeline.cavities] == new
    wait_until(station.pipeline.done.is_set, "the end of the footage", 120)
    snapshot = station.pipeline.snapshot()
    verdicts = run.memory.verdicts
    assert snapshot["frames_judged"] == snapshot["frames_in"] == len(verdicts) // 4
    layouts: dict[int, set[tuple[int, ...]]] = {}
    for verdict, evidence in run.memory.evidence:
        layouts.setdefault(verdict.frame_id or 0, set()).add(
            (verdict.cavity, *(evidence.roi_xywh or ())))
    expected_old = {(i + 1, *roi) for i, roi in enumerate(old)}  # type: ignore[misc]
    expected_new = {(i + 1, *roi) for i, roi in enumerate(new)}
    kinds = [("old" if rois == expected_old else "new" if rois == expected_new else "mixed")
             for _, rois in sorted(layouts.items())]
    assert "mixed" not in kinds
    first_new = kinds.index("new")
    assert first_new > 0 and set(kinds[first_new:]) == {"new"}  # old, then new, never back
