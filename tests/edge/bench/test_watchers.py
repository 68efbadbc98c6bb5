"""The browsers' CPU in the console stage: a live process tree's CPU read from /proc, grandchildren
included (Chromium's renderers are chromedriver's grandchildren, alive, so not in getrusage yet)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge.bench.watchers import process_tree_cpu_s, trees_cpu_s
from tests.waiting import text_of, wait_until

BURN_S = 0.3
# a grandchild that spends BURN_S of CPU, says so in a file, and stays alive until the file is gone
GRANDCHILD = f"""
import os, sys, time
while time.process_time() < {BURN_S}:
    pass
open(sys.argv[1], "w").write("burnt")
end_s = time.monotonic() + 120  # not for ever, if the test failed before removing it
while os.path.exists(sys.argv[1]) and time.monotonic() < end_s:
    time.sleep(0.05)
"""
CHILD = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1], sys.argv[2]])"


def test_the_cpu_of_a_live_grandchild_is_counted(tmp_path: Path) -> None:
    flag = tmp_path / "burnt"
    child = subprocess.Popen([sys.executable, "-c", CHILD, GRANDCHILD, str(flag)])
    try:
        wait_until(lambda: text_of(flag) == "burnt", "the grandchild's CPU burn")
        assert process_tree_cpu_s([child.pid]) >= BURN_S
        # several trees from one read: each its own, a tree of no process nothing
        burnt_s, none_s, empty_s = trees_cpu_s([[child.pid], [2 ** 22 + 1], []])
        assert burnt_s >= BURN_S and none_s == 0.0 and empty_s == 0.0
    finally:
        flag.unlink(missing_ok=True)  # the grandchild ends, and so its parent
        child.wait(timeout=30)


def test_a_process_that_is_gone_counts_nothing() -> None:
    assert process_tree_cpu_s([2 ** 22 + 1]) == 0.0  # above the kernel's pid_max: no such process
