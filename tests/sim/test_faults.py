"""Camera faults in footage: the syntax, the timeline's ground truth, and pixels changed only while active."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from sim.faults import DEFAULT_SEVERITY, FAULT_KINDS, Fault, parse_fault
from sim.footage import FootagePlan, FootageSettings, write_footage
from sim.timeline import Timeline, read_timeline, timeline_path

BASE = {"shots": 5, "seed": 3, "cavities": 4, "fps": 4.0, "cycle_s": 1.0, "cell_px": 96}


def test_parse_fault_syntax() -> None:
    assert parse_fault("camera-shift@40") == Fault("camera-shift", 40, None, DEFAULT_SEVERITY["camera-shift"])
    assert parse_fault("blur@80:120") == Fault("blur", 80, 120, 2.5)
    assert parse_fault("lighting@10:12,0.5") == Fault("lighting", 10, 12, 0.5)
    assert parse_fault("lighting@10,0.5").spec() == "lighting@10,0.5"
    for bad, says in (("blur", "KIND@SHOT"), ("smoke@3", "unknown fault kind"), ("blur@0", ">= 1"),
                      ("blur@9:4", "before it starts"), ("lighting@3,1.5", "(0, 1]"), ("blur@3,0", "> 0")):
        with pytest.raises(ValueError, match=says.replace("(", r"\(").replace("]", r"\]")):
            parse_fault(bad)


def test_timeline_carries_the_faults_and_old_timelines_still_load(tmp_path: Path) -> None:
    faults = (parse_fault("camera-shift@2:3,8"), parse_fault("blur@4"))
    timeline = write_footage(tmp_path / "f.avi", FootageSettings(**BASE, faults=faults))
    doc = json.loads(timeline_path(tmp_path / "f.avi").read_text())
    assert doc["faults"] == [
        {"kind": "camera-shift", "first_shot": 2, "last_shot": 3, "severity": 8.0},
        {"kind": "blur", "first_shot": 4, "last_shot": None, "severity": 2.5},
    ]
    assert read_timeline(tmp_path / "f.avi") == timeline
    assert timeline.faults_at(1) == () and timeline.faults_at(3) == faults[:1]
    assert timeline.faults_at(5) == faults[1:]
    del doc["faults"]  # a sidecar written before faults existed
    assert Timeline.from_json(doc).faults == ()


def test_fault_free_sidecar_has_no_faults_key(tmp_path: Path) -> None:
    write_footage(tmp_path / "f.avi", FootageSettings(**BASE))
    assert "faults" not in json.loads(timeline_path(tmp_path / "f.avi").read_text())


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_fault_changes_the_pixels_only_while_active(kind: str) -> None:
    clean = FootagePlan(FootageSettings(**BASE))
    faulty = FootagePlan(FootageSettings(**BASE, faults=(parse_fault(f"{kind}@2:3"),)))
    cycle = clean.cycle_frames
    for index in range(clean.frame_count):
        shot = index // cycle + 1
        diff = np.abs(clean.frame(index).astype(np.int16) - faulty.frame(index)).mean()
        dwelling = clean.arrive_frames <= index % cycle < clean.arrive_frames + clean.dwell_frames
        if shot in (2, 3) and (kind != "mold-change" or dwelling):  # a new mold shows only with its parts
            assert diff > 1.0, f"{kind}: frame {index} of shot {shot} barely changed ({diff:.2f} levels)"
        elif shot not in (2, 3):
            assert diff == 0.0, f"{kind}: frame {index} of shot {shot} changed outside the fault"


def test_faulty_footage_is_deterministic(tmp_path: Path) -> None:
    settings = FootageSettings(**BASE, faults=(parse_fault("blocked@2"), parse_fault("camera-rotate@3,1.5")))
    digests = []
    for name in ("a.avi", "b.avi"):
        write_footage(tmp_path / name, settings)
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_a_fault_past_the_last_shot_is_refused() -> None:
    with pytest.raises(ValueError, match="starts at shot 9 but the footage has 5 shots"):
        FootageSettings(**BASE, faults=(parse_fault("blur@9"),))
