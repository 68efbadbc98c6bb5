"""Test helpers for end-to-end station tests: `moldpilot run` as a child process, and waiting on its
log or output files (a condition with a timeout, never a fixed sleep)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def wait_for_text(path: Path, text: str, timeout_s: float = 60.0) -> None:
    deadline_s = time.monotonic() + timeout_s
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline_s, f"{text!r} never appeared in {path}"
        time.sleep(0.05)


def start_run(config: Path, out: Path, log: Path) -> subprocess.Popen[bytes]:
    """`moldpilot run -c config --jsonl out` as a child process, its log in `log`, cwd beside config."""
    with log.open("w") as stderr:
        command = [sys.executable, "-m", "edge.cli", "run", "-c", str(config), "--jsonl", str(out)]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, cwd=config.parent,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
