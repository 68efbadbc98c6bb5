"""The throughput stages of the benchmark, each a plain function returning frames per second.

Every function runs in a fresh process (edge/bench/suite.py spawns one per stage), so no thread pool,
OpenCV setting or warm cache of one stage helps or hurts another. Timing starts after the model is
loaded and warmed up, as the replay summary's `fps` does, so all stages compare steady-state speed.

- (a) `bare_fps`: onnxruntime alone on pre-decoded, preprocessed crops, one frame's crops per run. With
  one crop per run on one thread per core, all cores at once, it measures the compute ceiling C.
- (b) `decode_fps`: cv2.VideoCapture reading the footage, nothing else.
- (c) `naive_fps`: read, preprocess, run, write a line, one crop at a time, as tutorials write it.
- (d) `replay_fps`: `moldpilot replay --every-frame --speed max` as a child process, with its peak RSS.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import onnxruntime as ort

RoiXywh = tuple[int, int, int, int]
BARE_FRAMES = 32  # distinct pre-decoded frames cycled through by the bare stage (real pixels, in cache)
WARM_RUNS = 3


T = TypeVar("T")


def fresh(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs) in a newly spawned interpreter: no thread pool, cache or child of an earlier
    stage."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def crops_of(frame: np.ndarray, rois: Sequence[RoiXywh], size_wh: tuple[int, int]) -> np.ndarray:
    """[n_rois, h, w, 3] uint8: each ROI resized to the model input, as a tutorial would write it."""
    return np.stack([cv2.resize(frame[y:y + h, x:x + w], size_wh, interpolation=cv2.INTER_AREA)
                     for x, y, w, h in rois])


def _session(model: Path, threads: int = 0) -> tuple[ort.InferenceSession, str, tuple[int, int]]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads  # 0 = onnxruntime's default: all cores
    session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    height, width = spec.shape[1], spec.shape[2]
    return session, spec.name, (int(width), int(height))


def bare_fps(model: Path, footage: Path, rois: Sequence[RoiXywh], threads: int, seconds: float,
             crops_per_run: int | None = None, lanes: int = 1) -> float:
    """(a)/(a1)/(C): frames/s of onnxruntime alone, `threads` intra-op threads, one frame's crops per run
    (`crops_per_run` None) or that many crops per run, on `lanes` Python threads sharing the session
    (onnxruntime's Run is thread-safe and releases the GIL), each working through the frames."""
    session, name, size_wh = _session(model, threads)
    cap = cv2.VideoCapture(str(footage), cv2.CAP_FFMPEG)
    batches = []
    while len(batches) < BARE_FRAMES and (got := cap.read())[0]:
        batches.append(crops_of(got[1], rois, size_wh))
    cap.release()
    step = crops_per_run or len(rois)
    runs = [[batch[first:first + step] for first in range(0, len(batch), step)] for batch in batches]
    for frame_runs in runs[:WARM_RUNS]:
        for crops in frame_runs:
            session.run(None, {name: crops})
    start = time.perf_counter()

    def lane(index: int) -> int:
        frames = 0
        while time.perf_counter() - start < seconds:
            for crops in runs[(frames * lanes + index) % len(runs)]:
                session.run(None, {name: crops})
            frames += 1
        return frames

    with ThreadPoolExecutor(max_workers=lanes) as pool:
        frames = sum(pool.map(lane, range(lanes)))  # re-raises a lane's exception
    return frames / (time.perf_counter() - start)


def decode_fps(footage: Path, seconds: float) -> float:
    """(b): frames/s of decoding the footage alone (the file is read again from the start if short)."""
    frames, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        cap = cv2.VideoCapture(str(footage), cv2.CAP_FFMPEG)
        while cap.read()[0]:
            frames += 1
        cap.release()
    return frames / elapsed


def naive_fps(model: Path, footage: Path, rois: Sequence[RoiXywh], out: Path, per_crop: bool = True) -> float:
    """(c): the loop of a tutorial, single-threaded Python with default session settings: read a frame;
    for each cavity crop it, resize it, run the model on it and write one JSON line. `per_crop=False`
    runs the frame's crops as one batch instead (a less naive loop, reported for comparison)."""
    session, name, size_wh = _session(model)
    session.run(None, {name: np.zeros((1, size_wh[1], size_wh[0], 3), np.uint8)})  # warm-up
    groups = [[roi] for roi in rois] if per_crop else [list(rois)]
    cap = cv2.VideoCapture(str(footage), cv2.CAP_FFMPEG)
    frames, start = 0, time.perf_counter()
    with out.open("w", encoding="utf-8") as lines:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            for group in groups:
                probs = session.run(None, {name: crops_of(frame, group, size_wh)})[0]
                lines.write(json.dumps({"frame": frames, "p_ok": probs[:, 0].round(4).tolist()}) + "\n")
            frames += 1
    elapsed = time.perf_counter() - start
    cap.release()
    return frames / elapsed


def replay_fps(model: Path, footage: Path, config: Path | None = None) -> dict[str, Any]:
    """(d): `moldpilot replay FOOTAGE --every-frame --speed max --json` in a child process (with
    `--config` when given); its `fps` (frames judged per second, model load excluded), frames in/judged,
    the child's peak RSS and its CPU seconds (model load included). Call it from a process with no other
    children: RUSAGE_CHILDREN is the maximum over all of them."""
    cmd = [sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "replay", str(footage),
           "--every-frame", "--speed", "max", "--json", "--model", str(model),
           *(["--config", str(config)] if config is not None else [])]
    cpu_before_s = children_cpu_s()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    cpu_s = children_cpu_s() - cpu_before_s
    if done.returncode != 0:
        raise RuntimeError(f"replay failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    max_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    return {
        "fps": summary["fps"],
        "frames_in": summary["frames_in"],
        "frames_judged": summary["frames_judged"],
        "mean_batch": summary["mean_batch"],
        "peak_rss_mb": round(max_rss_kb / 1024, 1),
        "cpu_s": round(cpu_s, 3),
    }


def children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
