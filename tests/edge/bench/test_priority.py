"""The console stage runs the station at the shipped unit's priority where it may, and says which."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge.bench.priority import STATION_NICE, station_priority

REPO = Path(__file__).resolve().parents[3]
# as `nobody`, who may not lower a nice value: the block runs at the nice it had, which stays
# (imported before the switch: this interpreter may live where nobody can read, as under /root)
AS_NOBODY = """
import os, pwd
from edge.bench.priority import station_priority
user = pwd.getpwnam("nobody")
os.setgroups([]); os.setgid(user.pw_gid); os.setuid(user.pw_uid)
before = os.getpriority(os.PRIO_PROCESS, 0)
with station_priority(-10) as nice:
    inside = os.getpriority(os.PRIO_PROCESS, 0)
print(before, nice, inside, os.getpriority(os.PRIO_PROCESS, 0))
"""


def test_the_bench_runs_the_station_at_the_units_nice() -> None:
    unit = (REPO / "deploy" / "moldpilot.service").read_text()
    (nice,) = re.findall(r"^Nice=(-?\d+)$", unit, re.MULTILINE)
    assert int(nice) == STATION_NICE


@pytest.mark.skipif(os.geteuid() != 0, reason="lowering a nice value needs root")
def test_as_root_the_block_and_what_it_starts_run_at_the_nice_and_it_is_restored() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with station_priority(-5) as nice:
        assert nice == -5 == os.getpriority(os.PRIO_PROCESS, 0)
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                               capture_output=True, text=True, check=True)
        assert int(child.stdout) == -5  # a process started in the block inherits it
    assert os.getpriority(os.PRIO_PROCESS, 0) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_a_user_who_may_not_lower_it_gets_the_nice_he_had() -> None:
    done = subprocess.run([sys.executable, "-c", AS_NOBODY], capture_output=True, text=True, check=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    before, nice, inside, after = (int(v) for v in done.stdout.split())
    assert nice == inside == after == before
