"""Test helpers for end-to-end station tests: a two-cavity station folder, `moldpilot run` as a child
process, and waiting on its log or output files (a condition with a timeout, never a fixed sleep)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.tiny_model import write_noise_images
from tests.waiting import text_of, wait_until


def wait_for_text(path: Path, text: str, timeout_s: float = 60.0) -> None:
    """`text` appears in the file a child process writes."""
    wait_until(lambda: text in text_of(path), f"{text!r} in {path}", timeout_s)


def start_run(config: Path, out: Path, log: Path) -> subprocess.Popen[bytes]:
    """`moldpilot run -c config --jsonl out` as a child process, its log in `log`, cwd beside config."""
    with log.open("w") as stderr:
        command = [sys.executable, "-m", "edge.cli", "run", "-c", str(config), "--jsonl", str(out)]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, cwd=config.parent,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def triggered_station(config: Path, source: str, model: str, plc_port: Path | None, *more: str) -> Path:
    """Write station.yaml to `config`: press1, a triggered source (`source`: the flow mapping's kind,
    uri, ... entries), `model` (YAML: a path or a mapping), a 5 s deadline, a Modbus RTU slave on
    `plc_port` (none if None) and the `more` lines as they are. Returns `config`."""
    lines = ["station: {site: s, line: l, name: press1}", f"source: {{{source}, mode: triggered}}",
             f"model: {model}", "deadline_ms: 5000", *more]
    if plc_port is not None:
        lines.append(f"plc: {{protocol: modbus-rtu, port: {plc_port}}}")
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def two_cavity_station(folder: Path, model: Path, plc_section: str, shots: int, seed: int) -> Path:
    """station.yaml in `folder`: a triggered folder source of `shots` random 64x48 images (two 32x48
    cavities), `model`, a 5 s deadline and `plc_section` (a YAML flow mapping). Returns its path."""
    images = write_noise_images(folder / "images", shots, seed)
    return triggered_station(folder / "station.yaml", f"kind: folder, uri: {images}", f"{{path: {model}}}",
                             None, "cavities: [{id: 1, roi: [0, 0, 32, 48]}, {id: 2, roi: [32, 0, 32, 48]}]",
                             f"plc: {plc_section}")
