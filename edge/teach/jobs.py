"""Training in the background: `moldpilot train` as a child process at low CPU priority, one at a time.

Why a child process and not a thread: the trainer is CPU-bound numpy and onnxruntime work that would
compete with the inference loop for the interpreter and the cores; a child under `nice -n 19` with a
small thread budget (its onnxruntime threads via `--threads`, BLAS threads via the usual environment
variables) only gets the cores the line leaves idle. It runs in its own process group, so cancel
ends it and anything it started, and no orphan is left behind.

Progress comes from the trainer's own lines (`moldpilot train --progress-json`: one JSON object per batch
of images on stderr, edge/commands/train_cmd.py); the result is its `--json` summary on stdout, whose
readiness verdict (models/readiness.py) the console shows. A finished model becomes the registry's
candidate through `register` (`add_candidate` below, the one place that touches edge/registry). A
registry that takes signed models only refuses it: the job still ends "done", with the model's path in
`unsigned`, and the page says how to sign and add it (the plant key is kept off the station).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge.errors import ModelError, MoldPilotError

log = logging.getLogger(__name__)

NICE = 19
CHILD_THREADS = 1  # onnxruntime / BLAS threads of the child: one core of the edge PC at most
CANCEL_GRACE_S = 5.0  # SIGTERM, then SIGKILL for a child that does not stop
STDERR_LINES_KEPT = 20  # the tail shown when the trainer fails
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
# What `register(model, who, note)` does: adds the model to the registry and returns its version.
Register = Callable[[Path, str, str], str]


class JobBusy(MoldPilotError):
    """A training job is already running: one at a time."""


def add_candidate(registry: Any, model: Path, who: str, note: str) -> str:
    """The trained model into the registry as its candidate (edge/registry `Registry`); its version."""
    version = registry.add(model, who, note)
    registry.set_candidate(version.version, who)
    return str(version.version)


def low_priority_command(argv: Sequence[str]) -> list[str]:
    """`argv` run under `nice -n 19` (the coreutils binary, so the priority holds from the first
    instruction and for every thread the child makes)."""
    nice = shutil.which("nice")
    return [nice, "-n", str(NICE), *argv] if nice else list(argv)


def child_env(threads: int) -> dict[str, str]:
    """This process's environment with the numeric libraries held to `threads` threads."""
    return {**os.environ, **{name: str(threads) for name in THREAD_ENV}}


def end_group(proc: subprocess.Popen, grace_s: float = CANCEL_GRACE_S) -> None:
    """SIGTERM to the child's process group, SIGKILL after `grace_s`; returns once the child is reaped."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone already
        try:
            proc.wait(grace_s)
            # The leader is gone; a straggler it started may not be: the SIGKILL round takes it too.
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


class TrainingJobs:
    """Start, watch and cancel one training job at a time. `state()` is a copy, safe from any thread."""

    def __init__(self, work_dir: Path, register: Register | None = None, *, threads: int = CHILD_THREADS,
                 python: str = sys.executable, train_args: Sequence[str] = ()) -> None:
        self.work_dir = Path(work_dir)
        self._register = register
        self._threads = threads
        self._python = python
        self._train_args = list(train_args)  # e.g. ["--size", "160"]: fixed settings for a fast job
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"state": "idle"}
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._cancelled = False
        self._count = 0

    def state(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._state))

    def running(self) -> bool:
        with self._lock:
            return self._state["state"] == "running"

    def start(self, dataset: Path, who: str, note: str = "",
              start_from: Path | None = None) -> dict[str, Any]:
        """Start training on `dataset` (features from `start_from`'s network when given: `moldpilot train
        --start-from`); JobBusy while one runs. Returns the new state."""
        with self._lock:
            if self._state["state"] == "running":
                raise JobBusy("a training job is running; wait for it or cancel it first")
            self._count += 1
            out = self.work_dir / f"train-{time.strftime('%Y%m%d-%H%M%S')}-{self._count}" / "model.onnx"
            out.parent.mkdir(parents=True, exist_ok=True)
            argv = [self._python, "-m", "edge.cli", "train", str(dataset), "--out", str(out), "--json",
                    "--progress-json", "--threads", str(self._threads), *self._train_args]
            if start_from is not None:
                argv += ["--start-from", str(start_from)]
            self._proc = subprocess.Popen(low_priority_command(argv), stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, start_new_session=True,
                                          env=child_env(self._threads))
            self._cancelled = False
            self._state = {"state": "running", "dataset": str(dataset), "model": str(out), "who": who,
                           "start_from": None if start_from is None else str(start_from),
                           "pid": self._proc.pid, "started_at": time.time(), "stage": None, "done": 0,
                           "total": 0, "stages": [], "readiness": None, "candidate": None, "error": None}
            self._thread = threading.Thread(target=self._watch, args=(self._proc, out, who, note),
                                            name="teach-train-job", daemon=True)
            self._thread.start()
            log.info("teach: %s started training on %s (pid %d)", who, dataset, self._proc.pid)
            return json.loads(json.dumps(self._state))

    def cancel(self) -> bool:
        """End the running job (its whole process group); False when none runs."""
        with self._lock:
            proc = self._proc if self._state["state"] == "running" else None
            self._cancelled = proc is not None
        if proc is None:
            return False
        end_group(proc)
        self.join()
        return True

    def join(self, timeout_s: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def close(self) -> None:
        self.cancel()
        self.join()

    # -- the watcher thread ---------------------------------------------------------------------------

    def _watch(self, proc: subprocess.Popen, out: Path, who: str, note: str) -> None:
        tail: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        reader = threading.Thread(target=self._read_progress, args=(proc, tail), name="teach-train-progress",
                                  daemon=True)
        reader.start()
        stdout = proc.stdout.read() if proc.stdout else ""
        code = proc.wait()
        reader.join()
        try:
            result = self._result(code, stdout, tail, out, who, note)
        except Exception as exc:  # a broken registry or summary ends this job, not the console
            log.exception("teach: training job on %s could not be finished", out)
            result = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            self._state.update(result, finished_at=time.time())
            self._proc = None
        log.info("teach: training job %s: %s", out, result["state"])

    def _read_progress(self, proc: subprocess.Popen, tail: deque[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            progress = _progress_of(line)
            if progress is None:
                if line.strip():
                    tail.append(line.rstrip())
                continue
            with self._lock:
                if progress["stage"] != self._state["stage"]:
                    self._state["stages"].append(progress["stage"])
                self._state.update(progress)

    def _result(self, code: int, stdout: str, tail: deque[str], out: Path, who: str,
                note: str) -> dict[str, Any]:
        if self._cancelled:
            shutil.rmtree(out.parent, ignore_errors=True)  # half a job is nobody's candidate
            return {"state": "cancelled"}
        if code != 0:
            return {"state": "failed", "error": "\n".join(tail) or f"the trainer exited with code {code}"}
        summary = json.loads(stdout.strip().splitlines()[-1])
        validation = summary["validation"]
        candidate, unsigned = None, None
        try:
            candidate = self._register(out, who, note or f"trained on {summary['training']['data']}") \
                if self._register else None
        except ModelError as exc:  # a registry that takes signed models only: the model waits to be signed
            log.warning("teach: %s", exc)
            unsigned = str(out)
        return {"state": "done", "readiness": validation["readiness"], "candidate": candidate,
                "unsigned": unsigned,
                "threshold": summary["threshold"], "counts": summary["training"]["counts"],
                "seconds": summary["seconds"],
                "figures": {k: validation.get(k) for k in ("accuracy", "escape_rate", "false_reject_rate")}}


def _progress_of(line: str) -> dict[str, Any] | None:
    """{"stage", "done", "total"} of a `--progress-json` line; None for any other line."""
    if not line.startswith('{"progress"'):
        return None
    try:
        progress = json.loads(line)["progress"]
        return {"stage": str(progress["stage"]), "done": int(progress["done"]),
                "total": int(progress["total"])}
    except (ValueError, KeyError, TypeError):
        return None
