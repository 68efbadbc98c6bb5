"""The review queue behind a real pipeline: a replay of simulator footage through the tiny ONNX model
puts every NG / NO_DECISION part and the asked share of OK parts into the queue, each with the crop cut
from its own trigger frame; the report's NG gallery gets no OK part."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from edge.commands.replay_cmd import default_config
from edge.config import ReviewSection
from edge.replay import replay
from edge.teach.queue import ReviewQueue
from edge.verdict import Decision
from sim.footage import FootageSettings, write_footage
from sim.timeline import load_timeline


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video = tmp_path_factory.mktemp("footage") / "line.avi"
    write_footage(video, FootageSettings(shots=6, seed=21, cavities=4, fps=10, cycle_s=1.0, cell_px=96,
                                         defect_rate=0.4))
    return video


@pytest.mark.parametrize("ok_sample", [0.0, 1.0])
def test_a_replay_queues_rejected_parts_and_the_asked_share_of_ok_parts(
        footage: Path, tiny_model: Path, tmp_path: Path, ok_sample: float) -> None:
    review = ReviewSection(folder=str(tmp_path / "q"), dataset=str(tmp_path / "d"), ok_sample=ok_sample)
    config = default_config(footage, str(tiny_model)).model_copy(update={"review": review})
    timeline = load_timeline(footage)
    result = replay(footage, config, timeline, progress=False, evidence_limit=1000)
    verdicts = {(v.shot, v.cavity): v for v in result.verdicts}
    assert len(verdicts) == 6 * 4
    rejected = {k for k, v in verdicts.items() if v.decision is not Decision.OK}
    queue = ReviewQueue(tmp_path / "q", 1000)  # as the next start reads it
    records = queue.waiting(1000)
    kept = {(r["shot"], r["cavity"]) for r in records}
    assert kept == (set(verdicts) if ok_sample == 1.0 else rejected)
    assert len(records) == len(kept)  # one entry per part
    rois = timeline.rois_xywh
    for record in records:
        verdict = verdicts[(record["shot"], record["cavity"])]
        assert (record["decision"], record["part_id"], record["frame_id"]) == (
            verdict.decision.name, verdict.part_id, verdict.frame_id)
        assert record["model_version"] == "tiny_defect"  # the card name until the registry names versions
        _, _, w, h = rois[record["cavity"] - 1]
        assert cv2.imread(str(queue.crop_path(record["id"]))).shape == (h, w, 3)  # the cavity's own ROI
    assert all(v.decision is not Decision.OK for v, _ in result.evidence)
