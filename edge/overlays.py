"""Overlays for people: each image of a labelled folder with the model's heatmap and verdict drawn on it.

`moldpilot eval MODEL DATA_DIR --overlays DIR` writes DIR/<class>/<stem>.jpg. The verdict comes from the
runtime's own path (ModelRunner pre-processing and IO binding, Judge thresholds from the card), so an
overlay shows what the line would have decided; the caption adds the folder's true class. The drawing is
the NG store's (edge/ng_store.py `overlay`, `verdict_caption`), so evidence and evaluation look alike.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.errors import DataError
from edge.ng_store import JPEG_QUALITY, overlay, verdict_caption
from edge.pipeline.judge import Judge
from edge.pipeline.runner import ModelRunner
from models.dataset import DatasetError, scan

_DEADLINE_MS = 1e9  # offline: no trigger, so no deadline applies


def write_overlays(model_path: str | Path, data_dir: str | Path, out_dir: str | Path,
                   ok_class: str | None = None) -> int:
    """Write one overlay JPEG per readable image; returns how many were written."""
    out_dir = Path(out_dir)
    with ModelRunner(model_path, warm_up=False) as runner:
        judge = Judge.from_card(runner.card, _DEADLINE_MS)
        try:
            data = scan(data_dir, ok_class or runner.card.ok_class, min_classes=1)
        except DatasetError as exc:
            raise DataError(str(exc)) from exc
        written = 0
        for path, label in zip(data.paths, data.labels, strict=True):
            image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                continue
            runner.preprocess_into(0, image)
            outputs = runner.infer(1)
            scores = judge.score(outputs.probs)
            ng = bool(scores.ng[0])
            record = {"decision": "NG" if ng else "OK",
                      "defect": judge.class_names[scores.defect_index[0]] if ng else None,
                      "score": float(scores.p_defect[0])}
            heatmap = None if outputs.heatmap is None else outputs.heatmap[0]
            truth = data.class_names[label]
            picture = overlay(image, heatmap, f"{verdict_caption(record)}\ntrue {truth}")
            target = out_dir / truth / f"{path.stem}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            written += 1
    return written
