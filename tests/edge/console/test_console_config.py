"""The console: section and its helpers, without a browser: what is refused at start, the passwd
helper, and `moldpilot run` serving the console when the section is there."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from argon2 import PasswordHasher

from edge.cli import main
from edge.config import load_config
from edge.console.server import _bind
from edge.errors import ConfigError
from tests.waiting import wait_until


def _station(tmp_path: Path, model: Path, console: dict, **more: object) -> Path:
    doc = {"station": {"site": "s", "line": "l", "name": "p"},
           "source": {"kind": "sim", "uri": "7", "mode": "free-run"},
           "model": {"path": str(model)}, "console": console, **more}
    path = tmp_path / "station.yaml"
    path.write_text("# my station, my comments\n" + yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_network_address_without_users_refuses_to_start_in_one_line(tmp_path: Path,
                                                                     tiny_model: Path) -> None:
    path = _station(tmp_path, tiny_model, {"host": "0.0.0.0"})
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert "\n" not in message and "console.users is empty" in message and "0.0.0.0" in message
    for loopback in ("127.0.0.1", "::1", "localhost"):
        assert load_config(_station(tmp_path, tiny_model, {"host": loopback})).console is not None


def test_a_refused_console_section_does_not_echo_password_hashes(tmp_path: Path, tiny_model: Path) -> None:
    hashed = PasswordHasher().hash("secret-secret")
    path = _station(tmp_path, tiny_model, {"host": "0.0.0.0", "port": 99999,
                                           "users": {"jun": {"role": "engineer", "password_hash": hashed}}})
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert hashed not in str(refused.value) and "console.port" in str(refused.value)


def test_a_busy_port_is_one_clear_line() -> None:
    taken = _bind("127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match=r"console: cannot listen on 127\.0\.0\.1:"):
            _bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


def test_passwd_writes_an_argon2_hash_and_keeps_the_file_and_a_backup(
        tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    path = _station(tmp_path, tiny_model, {"port": 8080})
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    assert main(["console", "passwd", "jun", "--role", "engineer", "-c", str(path), "--password-stdin"]) == 0
    config = load_config(path)
    assert config.console is not None and config.console.port == 8080
    user = config.console.users["jun"]
    assert user.role == "engineer" and PasswordHasher().verify(user.password_hash, "correct horse battery")
    assert path.read_text().startswith("# my station, my comments")
    assert "users" not in (yaml.safe_load(path.with_name("station.yaml.bak").read_text())["console"])
    out = capsys.readouterr()
    assert "correct horse" not in out.out + out.err
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["console", "passwd", "mina", "--password-stdin"]) == 2  # too short: refused, one line
    monkeypatch.setattr(sys, "stdin", io.StringIO("long enough pass\n"))
    assert main(["console", "passwd", "mina", "--password-stdin"]) == 0
    assert capsys.readouterr().out.startswith("$argon2id$")


def test_moldpilot_run_serves_the_console_when_the_section_is_there(tmp_path: Path, tiny_model: Path) -> None:
    sock = _bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    path = _station(tmp_path, tiny_model, {"port": port})
    log = tmp_path / "run.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "-c", str(path)],
                                stdout=subprocess.PIPE, stderr=err)
    try:
        wait_until(lambda: "console serving on" in log.read_text() or proc.poll() is not None,
                   "the console to serve", 90)
        assert proc.poll() is None, log.read_text()
        state = wait_until(lambda: (s := json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/live/state", timeout=10)))["frame_id"] is not None and s,
            "a judged frame in the console")
        assert state["cavities"][0]["id"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and json.loads(out.decode().splitlines()[-1])["frames_judged"] > 0
