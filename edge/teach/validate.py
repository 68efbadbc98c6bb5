"""Validate a candidate beside the active model: the labelled hold-out and recorded footage, side by side.

Both models are run the way the line runs them, by the CLI in child processes at low priority (nice 19,
one thread: edge/teach/jobs.py): `moldpilot eval MODEL HOLDOUT --json --images` (every image's
P(defect)) and `moldpilot replay FOOTAGE --model MODEL --json --jsonl FILE` (every verdict, through the
production pipeline). The record says, per model: escapes and false rejects overall, per cavity
(footage) and per class (both), and lists the parts where the two models decide differently, each
with its crop written as a PNG (the hold-out image itself, or the cavity ROI of the footage's trigger
frame). It also keeps the candidate's scores and truths, for the threshold preview
(edge/teach/threshold.py). The console saves it with the registry's `save_validation`.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2

from edge.errors import MoldPilotError
from edge.teach.jobs import CHILD_THREADS, child_env, low_priority_command
from sim.timeline import load_timeline

log = logging.getLogger(__name__)

MAX_DISAGREEMENT_IMAGES = 60  # crops written; every disagreement is still listed and counted
CHILD_TIMEOUT_S = 3600.0
Part = dict[str, Any]  # {"key", "source", "truth", "ng", "score", ...}


class ValidationError(MoldPilotError):
    """A child `eval` / `replay` failed: its last lines say why."""


def run_cli(args: Sequence[str], threads: int = CHILD_THREADS, python: str = sys.executable) -> dict:
    """`python -m edge.cli ARGS` at low priority; its last stdout line parsed as JSON."""
    proc = subprocess.run(low_priority_command([python, "-m", "edge.cli", *args]), capture_output=True,
                          text=True, env=child_env(threads), timeout=CHILD_TIMEOUT_S, start_new_session=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ValidationError(f"moldpilot {' '.join(args[:2])} failed (exit {proc.returncode}): {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def holdout_parts(model: Path, holdout: Path, run: Callable[..., dict] = run_cli) -> tuple[dict, list[Part]]:
    """`eval` of `model` on the labelled `holdout` folder: its summary and one Part per image."""
    result = run(["eval", str(model), str(holdout), "--json", "--images"])
    parts = [{"key": f"holdout:{Path(i['file']).relative_to(holdout)}", "source": "holdout",
              "file": i["file"], "truth": i["class"], "score": i["p_defect"],
              "ng": i["p_defect"] >= result["threshold"]} for i in result.pop("images")]
    return result, parts


def footage_parts(model: Path, footage: Path, jsonl: Path,
                  run: Callable[..., dict] = run_cli) -> tuple[dict, list[Part]]:
    """`replay` of `footage` with `model` (verdicts into `jsonl`): its summary and one Part per scored
    verdict."""
    summary = run(["replay", str(footage), "--model", str(model), "--json", "--jsonl", str(jsonl)])
    parts = []
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        v = json.loads(line)
        if v["truth"] is None or v["error"] == "NO_FRAME":
            continue  # not scored by replay either (edge/replay.py summarize)
        parts.append({"key": f"{footage}:{v['shot']}:{v['cavity']}", "source": "footage",
                      "footage": str(footage), "shot": v["shot"], "cavity": v["cavity"], "truth": v["truth"],
                      "score": v["score"], "ng": v["decision"] != "OK", "decision": v["decision"]})
    return summary, parts


def tally(parts: Iterable[Part], by: str | None = None) -> dict[str, Any]:
    """Escapes (defects passed) and false rejects (good parts not passed), overall or per `by` value."""
    if by is not None:
        groups: dict[str, list[Part]] = {}
        for p in parts:
            groups.setdefault(str(p[by]), []).append(p)
        return {key: tally(group) for key, group in sorted(groups.items())}
    parts = list(parts)
    ng = [p for p in parts if p["truth"] != "ok"]
    ok = [p for p in parts if p["truth"] == "ok"]
    return {"parts": len(parts), "ng_parts": len(ng), "ok_parts": len(ok),
            "escapes": sum(not p["ng"] for p in ng), "false_rejects": sum(p["ng"] for p in ok)}


def _side(parts: list[Part]) -> dict[str, Any]:
    footage = [p for p in parts if p["source"] == "footage"]
    return {"holdout": tally(p for p in parts if p["source"] == "holdout"),
            "holdout_per_class": tally((p for p in parts if p["source"] == "holdout"), "truth"),
            "footage": tally(footage), "footage_per_cavity": tally(footage, "cavity"),
            "footage_per_class": tally(footage, "truth")}


def validate(candidate: Path, active: Path, out_dir: Path, holdout: Path | None = None,
             footage: Sequence[Path] = (), run: Callable[..., dict] = run_cli) -> dict[str, Any]:
    """The validation record of `candidate` against `active` (see the module docstring)."""
    if holdout is None and not footage:
        raise ValidationError("nothing to validate on: give a labelled hold-out folder or recorded footage")
    started = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    sides: dict[str, list[Part]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for name, model in (("candidate", candidate), ("active", active)):
        parts: list[Part] = []
        summaries[name] = {"model": str(model), "footage_replay": []}
        if holdout is not None:
            summaries[name]["holdout_eval"], parts = holdout_parts(model, holdout, run)
            summaries[name]["holdout_eval"].pop("readiness", None)
        for n, video in enumerate(footage):
            summary, more = footage_parts(model, video, out_dir / f"{name}-{n}-{video.stem}.jsonl", run)
            summaries[name]["footage_replay"].append({k: summary.get(k) for k in (
                "parts", "scored_parts", "ng_parts", "ok_parts", "accuracy", "escape_rate",
                "false_reject_rate", "per_cavity")})
            parts += more
        sides[name] = parts
    disagreements = disagreeing(sides["candidate"], sides["active"])
    written = write_crops(disagreements[:MAX_DISAGREEMENT_IMAGES], out_dir / "disagree")
    return {"candidate": {**summaries["candidate"], **_side(sides["candidate"])},
            "active": {**summaries["active"], **_side(sides["active"])},
            "holdout": str(holdout) if holdout else None, "footage": [str(f) for f in footage],
            "disagreements": disagreements, "disagreement_images": written,
            "scores": [[p["score"], p["truth"] != "ok"] for p in sides["candidate"]],
            "started_at": started, "seconds": round(time.time() - started, 1)}


def disagreeing(candidate: list[Part], active: list[Part]) -> list[dict[str, Any]]:
    """The parts both models judged whose decisions (OK / not OK) differ."""
    theirs = {p["key"]: p for p in active}
    out = []
    for mine in candidate:
        other = theirs.get(mine["key"])
        if other is None or other["ng"] == mine["ng"]:
            continue
        where = {k: mine[k] for k in ("source", "file", "footage", "shot", "cavity") if k in mine}
        out.append({**where, "key": mine["key"], "truth": mine["truth"],
                    "candidate": {"ng": mine["ng"], "score": mine["score"]},
                    "active": {"ng": other["ng"], "score": other["score"]},
                    "right": "candidate" if mine["ng"] == (mine["truth"] != "ok") else "active"})
    return out


def write_crops(rows: list[dict[str, Any]], folder: Path) -> int:
    """Each row's picture as folder/<n>.png (its "image" set to that name); returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = _trigger_crops([r for r in rows if r["source"] == "footage"])
    for n, row in enumerate(rows):
        target = folder / f"{n:04d}.png"
        if row["source"] == "holdout":
            image = cv2.imread(row["file"], cv2.IMREAD_COLOR)
        else:
            image = frames.get((row["footage"], row["shot"], row["cavity"]))
        if image is not None and cv2.imwrite(str(target), image):
            row["image"] = target.name
    return sum("image" in r for r in rows)


def _trigger_crops(rows: list[dict[str, Any]]) -> dict[tuple[str, int, int], Any]:
    """{(footage, shot, cavity): the cavity's ROI of the shot's trigger frame} for `rows`."""
    crops: dict[tuple[str, int, int], Any] = {}
    for video in sorted({r["footage"] for r in rows}):
        timeline = load_timeline(video)
        if timeline is None:
            continue
        wanted = {(r["shot"], r["cavity"]) for r in rows if r["footage"] == video}
        frames = {s.trigger_frame: s.shot for s in timeline.shots if any(w[0] == s.shot for w in wanted)}
        cap = cv2.VideoCapture(video)
        try:
            for index in range(max(frames, default=-1) + 1):
                ok, frame = cap.read() if index in frames else (cap.grab(), None)
                if not ok:
                    break
                if frame is None:
                    continue
                for shot, cavity in wanted:
                    if shot == frames[index]:
                        x, y, w, h = timeline.rois_xywh[cavity - 1]
                        crops[(video, shot, cavity)] = frame[y:y + h, x:x + w].copy()
        finally:
            cap.release()
    return crops


class ValidationRunner:
    """One validation at a time on a background thread; `state()` is a copy."""

    def __init__(self, run: Callable[..., dict] = run_cli) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"state": "idle"}
        self._thread: threading.Thread | None = None

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def start(self, version: str, candidate: Path, active: Path, out_dir: Path, holdout: Path | None,
              footage: Sequence[Path], save: Callable[[str, dict], None]) -> None:
        with self._lock:
            if self._state["state"] == "running":
                raise ValidationError("a validation is running; wait for it to finish")
            self._state = {"state": "running", "version": version, "started_at": time.time()}
        if out_dir.exists():
            shutil.rmtree(out_dir)  # the crops of an earlier validation of this version
        self._thread = threading.Thread(target=self._work, name="teach-validate", daemon=True,
                                        args=(version, candidate, active, out_dir, holdout, footage, save))
        self._thread.start()

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _work(self, version: str, candidate: Path, active: Path, out_dir: Path, holdout: Path | None,
              footage: Sequence[Path], save: Callable[[str, dict], None]) -> None:
        try:
            record = validate(candidate, active, out_dir, holdout, footage, self._run)
            save(version, record)
            result: dict[str, Any] = {"state": "done"}
        except Exception as exc:  # one failed validation is shown on the page, not a dead console
            log.exception("teach: validation of %s failed", version)
            result = {"state": "failed", "error": str(exc)}
        with self._lock:
            self._state.update(result, finished_at=time.time())
