"""`moldpilot run` as a process: how it starts and ends when its inputs come and go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.tiny_model import write_noise_images

PARTS = 6


def test_stdin_triggers_end_the_run_when_stdin_closes(tiny_model: Path, tmp_path: Path) -> None:
    """Issue 17 item 9: the trigger producer is gone, so the station drains and exits 0 on its own, with
    one verdict per trigger sent."""
    images = write_noise_images(tmp_path / "images", PARTS, seed=3)
    config = tmp_path / "station.yaml"
    config.write_text("station: {site: s, line: l, name: p}\n"
                      f"source: {{kind: folder, uri: {images}, mode: triggered}}\n"
                      f"model: {{path: {tiny_model}}}\ndeadline_ms: 5000\n", encoding="utf-8")
    out = tmp_path / "verdicts.jsonl"
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "run", "-c", str(config), "--jsonl", str(out),
                           "--stdin-triggers"], input="".join(f"{100 + i}\n" for i in range(PARTS)).encode(),
                          capture_output=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"stdin closed" in proc.stderr
    final = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert final["triggers"] == PARTS
    assert sorted(json.loads(line)["part_id"] for line in out.read_text().splitlines()) == list(
        range(100, 100 + PARTS))
