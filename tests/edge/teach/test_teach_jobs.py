"""Training jobs for real: `moldpilot train` as a low-priority child on the new mold's crops, its progress
read from the trainer's own lines, the readiness verdict and the candidate at the end; cancel ends the
child's whole process group."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from edge.registry import Registry
from edge.registry.signing import keygen, sign
from edge.teach.desk import dataset_summary
from edge.teach.jobs import JobBusy, TrainingJobs, add_candidate
from models.card import read_card
from tests.edge.teach.teach_parts import FAST_TRAIN, bezel_dataset
from tests.waiting import wait_until

TRAIN_S = 600.0  # a few hundred feature passes and the cross-validation, on a loaded 2-core machine


def _group_alive(pgid: int) -> list[int]:
    """Pids of live (not zombie) processes in process group `pgid`, read from /proc."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def _niceness(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[16])


def test_a_job_trains_to_the_end_with_progress_verdict_and_candidate(bezel_train: Path,
                                                                     tmp_path: Path) -> None:
    registered: list[tuple[Path, str, str]] = []

    def register(model: Path, who: str, note: str) -> str:  # the registry's add + set_candidate
        registered.append((model, who, note))
        return "v2"

    jobs = TrainingJobs(tmp_path / "jobs", register, train_args=FAST_TRAIN)
    summary = dataset_summary(bezel_train)
    assert summary["trainable"] and summary["counts"]["ok"] >= 30 and summary["defects_to_verify"] == 598
    started = jobs.start(bezel_train, "eng")
    assert started["state"] == "running"
    # nice -n 19 execs the trainer in place: the same pid, at low priority for all it runs
    wait_until(lambda: _niceness(started["pid"]) == 19, "the child at nice 19")
    with pytest.raises(JobBusy):
        jobs.start(bezel_train, "eng")  # one at a time
    seen = wait_until(lambda: (s := jobs.state())["state"] == "running" and s["total"] and s, "progress",
                      TRAIN_S)
    assert 0 < seen["done"] <= seen["total"] and seen["stage"]
    done = wait_until(lambda: (s := jobs.state())["state"] != "running" and s, "the job to end", TRAIN_S)
    assert done["state"] == "done", done.get("error")
    assert {"screen 160x160 px", "features"} <= set(done["stages"])  # the trainer's stages, in its words
    assert done["readiness"]["verdict"] in ("READY", "NOT READY")
    assert done["readiness"]["text"]["en"][0].startswith("Verdict:") and done["readiness"]["text"]["ko"]
    assert done["candidate"] == "v2"
    model = Path(done["model"])
    assert registered == [(model, "eng", f"trained on {bezel_train}")]
    card = read_card(model)
    assert card.training["counts"] == summary["counts"] and card.threshold == done["threshold"]
    assert not _group_alive(started["pid"])


def test_cancel_mid_run_leaves_no_process(tmp_path: Path) -> None:
    data = bezel_dataset(tmp_path / "data", 200, seed=9)  # long enough to be cancelled while it runs
    jobs = TrainingJobs(tmp_path / "jobs", None)  # default settings: the size search runs too
    started = jobs.start(data, "eng")
    wait_until(lambda: jobs.state()["done"] > 0, "the first progress line", TRAIN_S)
    assert _group_alive(started["pid"])
    assert jobs.cancel()
    state = jobs.state()
    assert state["state"] == "cancelled" and state["candidate"] is None
    assert not _group_alive(started["pid"])  # the whole group: no orphan
    with pytest.raises(ProcessLookupError):
        os.killpg(started["pid"], 0)
    assert not Path(state["model"]).parent.exists()  # half a job leaves nothing behind
    assert not jobs.cancel()  # nothing runs now


def test_a_failing_trainer_reports_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "data" / "ok").mkdir(parents=True)
    jobs = TrainingJobs(tmp_path / "jobs", None)
    jobs.start(tmp_path / "data", "eng")
    state = wait_until(lambda: (s := jobs.state())["state"] != "running" and s, "the job to fail", 120)
    assert state["state"] == "failed" and "no class folders" in state["error"]
    summary = dataset_summary(tmp_path / "data")
    assert not summary["trainable"] and "no class folders" in summary["problem"]


def test_a_registry_of_signed_models_only_leaves_the_model_to_be_signed(bezel_train: Path,
                                                                        tmp_path: Path) -> None:
    """The plant key stays off the station, so a model trained there cannot be signed there: the job
    still finishes with its verdict, names the model's file, and that file, once signed, is taken."""
    _, plant_pub = keygen(tmp_path / "plant.key")
    registry = Registry(tmp_path / "reg", trusted_keys=[plant_pub])
    jobs = TrainingJobs(tmp_path / "jobs", functools.partial(add_candidate, registry), train_args=FAST_TRAIN)
    jobs.start(bezel_train, "eng")
    done = wait_until(lambda: (s := jobs.state())["state"] != "running" and s, "the job to end", TRAIN_S)
    assert done["state"] == "done" and done["readiness"]["verdict"] in ("READY", "NOT READY")
    assert done["candidate"] is None and registry.candidate() is None
    model = Path(done["unsigned"])
    assert model.is_file()
    sign(model, tmp_path / "plant.key")  # on the engineering PC
    assert registry.add(model, "eng", "signed").signed
