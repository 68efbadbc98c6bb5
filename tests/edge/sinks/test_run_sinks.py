"""`moldpilot run` wires the station's sinks from station.yaml: here the NG evidence store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.tiny_model import write_noise_images

N_IMAGES = 6


def test_run_stores_evidence_of_every_rejected_part(tiny_model: Path, tmp_path: Path) -> None:
    images = write_noise_images(tmp_path / "images", N_IMAGES, seed=5)
    config = tmp_path / "station.yaml"
    # threshold 0: every part is NG, so every part must leave its evidence in the store
    config.write_text(
        "station: {site: s, line: l, name: press1}\n"
        f"source: {{kind: folder, uri: {images}, mode: free-run}}\n"
        f"model: {{path: {tiny_model}, threshold: 0.0}}\n"
        "deadline_ms: 5000\n"
        "storage: {ng_dir: ng, quota_mb: 50}\n",
        encoding="utf-8",
    )
    result = subprocess.run([sys.executable, "-m", "edge.cli", "run", "-c", str(config)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["frames_judged"] == N_IMAGES and final["sinks"]["ng_store"]["errors"] == 0
    records = sorted((tmp_path / "ng").glob("*/*.json"))
    assert len(records) == N_IMAGES
    for record in records:
        assert json.loads(record.read_text())["decision"] == "NG"
        stem = record.name.removesuffix(".json")
        assert (record.parent / f"{stem}.png").is_file() and (record.parent / f"{stem}.overlay.jpg").is_file()
