"""deploy/install.sh staged into a temporary root: the unit's ExecStartPre passes against what it
installed, the default model is where the config names it, and one password variable name is used."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PASSWORD_VAR = "MOLDPILOT_MQTT_PASSWORD"


def _stage(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "deploy" / "install.sh"), "--root", str(root), "--skip-venv"],
                          capture_output=True, text=True, check=True)


def _exec_start_pre() -> list[str]:
    unit = (REPO / "deploy" / "moldpilot.service").read_text()
    (line,) = re.findall(r"^ExecStartPre=(.+)$", unit, re.MULTILINE)
    return shlex.split(line)


def test_exec_start_pre_passes_on_the_installed_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = _stage(root)
    assert "+ systemctl" not in done.stdout and "+ useradd" not in done.stdout  # the host is untouched
    installed = root / "etc/moldpilot/station.yaml"
    config = yaml.safe_load(installed.read_text())
    model = Path(config["model"]["path"])
    assert model == Path("/opt/moldpilot/models/default.onnx")
    assert (root / model.relative_to("/")).is_file()
    assert (root / "opt/moldpilot/models/default.card.json").is_file()
    env_file = root / "etc/moldpilot/moldpilot.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640 and PASSWORD_VAR in env_file.read_text()

    # What systemd would run, seen from inside the staged root: the absolute paths of the config map
    # into it (as in a chroot), and the venv's moldpilot is this interpreter's.
    program, *args = _exec_start_pre()
    assert program == "/opt/moldpilot/venv/bin/moldpilot" and args[:2] == ["config", "check"]
    staged = tmp_path / "station.yaml"
    staged.write_text(re.sub(r"(?<![\w/])/(opt|var)/moldpilot", lambda m: f"{root}{m.group(0)}",
                             installed.read_text()))
    env = {**os.environ, **_env_file(env_file)}
    check = subprocess.run([sys.executable, "-m", "edge.cli", *args[:2], str(staged)], capture_output=True,
                           text=True, env=env, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK" in check.stdout


def test_rerun_keeps_the_stations_config_and_secrets(tmp_path: Path) -> None:
    _stage(tmp_path)
    env_file = tmp_path / "etc/moldpilot/moldpilot.env"
    env_file.write_text(f"{PASSWORD_VAR}=s3cret\n")
    done = _stage(tmp_path)
    assert "moldpilot.env exists: kept" in done.stdout and env_file.read_text() == f"{PASSWORD_VAR}=s3cret\n"


def test_one_password_variable_name_everywhere() -> None:
    texts = [p.read_text(encoding="utf-8") for p in (REPO / "station.example.yaml", REPO / "README.md",
                                                      REPO / "README.ko.md", *(REPO / "deploy").iterdir())
             if p.is_file()]
    assert not [t for t in texts if re.search(r"MOLDPILOT_MQTT_PASS(?!WORD)", t)]
    assert yaml.safe_load((REPO / "station.example.yaml").read_text())["mqtt"]["password_env"] == PASSWORD_VAR


def _env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments and blanks skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}
