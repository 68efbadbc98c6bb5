"""Run an ONNX graph over image files in batches: decode, resize, augment, infer, with a progress bar.

Augmentation is a fixed set of views of each image (flips, half and quarter turn): mold parts and
castings show up in any orientation, and on the casting photos training on these views gained accuracy
(see models/backbone/mobilenet_v2_features.json `selection`). Whether the shipped graph also averages
the flip views at test time is decided per data set by cross-validation (models/selection.py
`choose_test_views`): it costs 4x inference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from tqdm import tqdm

from models.dataset import Size, load_image

View = Callable[[np.ndarray], np.ndarray]
# A progress bar on stderr (True), none (False), or a callback `(stage, done, total)` after each batch
# (`moldpilot train --progress-json`: the console's training job reads it).
Progress = bool | Callable[[str, int, int], None]
IDENTITY: dict[str, View] = {"identity": lambda a: a}
# The views of models/flip_views.py (test-time averaging in the graph): they keep any input's shape.
FLIP_VIEWS: dict[str, View] = {
    "identity": lambda a: a,
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1],
    "rot180": lambda a: a[::-1, ::-1],
}
# Square inputs also train on a quarter turn (parts in any orientation); it would change an oblong
# input's shape, so oblong inputs train on the flip views alone.
TRAIN_VIEWS: dict[str, View] = {**FLIP_VIEWS, "rot90": lambda a: np.rot90(a)}
BATCH = 32


def session(model: onnx.ModelProto | str | Path, threads: int = 0) -> ort.InferenceSession:
    """A CPU session; threads=0 lets onnxruntime use every core."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_images(
    sess: ort.InferenceSession,
    paths: Sequence[Path],
    size: Size,
    views: dict[str, View] = IDENTITY,
    output: str | None = None,
    desc: str = "images",
    progress: Progress = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Output `output` (default: the first) for each readable image and view.

    Returns (values [V, M, ...] for the M readable images, readable mask [len(paths)]).
    """
    name = output or sess.get_outputs()[0].name
    in_name = sess.get_inputs()[0].name
    readable = np.zeros(len(paths), dtype=bool)
    chunks: list[list[np.ndarray]] = [[] for _ in views]
    report = progress if callable(progress) else None
    with tqdm(total=len(paths), desc=desc, unit="img", disable=report is not None or not progress,
              leave=False) as bar:
        for start in range(0, len(paths), BATCH):
            batch = []
            for i, path in enumerate(paths[start:start + BATCH], start):
                image = load_image(path, size)
                if image is not None:
                    readable[i] = True
                    batch.append(image)
            if batch:
                for k, view in enumerate(views.values()):
                    x = np.ascontiguousarray(np.stack([view(a) for a in batch]))
                    chunks[k].append(sess.run([name], {in_name: x})[0])
            bar.update(min(BATCH, len(paths) - start))
            if report is not None:
                report(desc, min(start + BATCH, len(paths)), len(paths))
    shape = sess.get_outputs()[[o.name for o in sess.get_outputs()].index(name)].shape
    empty = np.zeros((0, *[d if isinstance(d, int) else 0 for d in shape[1:]]), np.float32)
    return np.stack([np.concatenate(c) if c else empty for c in chunks]), readable


def run_arrays(sess: ort.InferenceSession, images: np.ndarray, output: str | None = None) -> np.ndarray:
    """Output `output` (default: the first) for images already in memory, uint8 [N, H, W, 3], in batches."""
    name = output or sess.get_outputs()[0].name
    in_name = sess.get_inputs()[0].name
    return np.concatenate([sess.run([name], {in_name: images[start:start + BATCH]})[0]
                           for start in range(0, len(images), BATCH)])
