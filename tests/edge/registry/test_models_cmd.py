"""`moldpilot models ...` end to end through the CLI's main, on a station.yaml with a registry: real
ONNX files, a plant key pair made by `models keygen` in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.cli import main


def station_yaml(folder: Path, model: Path, trusted: Path | None = None) -> Path:
    keys = f", trusted_keys: [{trusted}]" if trusted else ""
    path = folder / "station.yaml"
    path.write_text(f"""\
station: {{site: plant1, line: line3, name: press07}}
source: {{kind: file, uri: footage.avi, mode: replay}}
model: {{path: {model}}}
registry: {{path: reg{keys}}}
""", encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_list_show_promote_rollback(tmp_path: Path, tiny_model_factory: Callable[..., Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tiny_model_factory("first", seed=0), tiny_model_factory("second", seed=1)
    config = str(station_yaml(tmp_path, first))
    assert run(capsys, "models", "list", "-c", config)[1].startswith("no versions")
    assert run(capsys, "models", "add", str(first), "-c", config, "--who", "jun")[0] == 0
    code, out, _ = run(capsys, "models", "add", str(second), "-c", config, "--who", "jun",
                       "--note", "retrained", "--candidate")
    assert code == 0 and "as v2" in out and "candidate" in out
    assert run(capsys, "models", "promote", "v1", "-c", config, "--who", "jun")[0] == 0
    assert run(capsys, "models", "promote", "v2", "-c", config, "--who", "mina")[0] == 0
    listing = json.loads(run(capsys, "models", "list", "-c", config, "--json")[1])
    assert listing["active"] == "v2" and listing["candidate"] is None
    assert [(v["version"], v["active"], v["note"]) for v in listing["versions"]] == [
        ("v1", False, ""), ("v2", True, "retrained")]
    shown = json.loads(run(capsys, "models", "show", "v2", "-c", config, "--json")[1])
    assert shown["card"]["name"] == "tiny_defect" and shown["active"]
    assert [h["action"] for h in shown["history"]] == ["added", "candidate", "promoted"]
    assert "rolled back: v1" in run(capsys, "models", "rollback", "-c", config, "--who", "mina")[1]

    code, _, err = run(capsys, "models", "rollback", "-c", config)
    assert code != 0 and "nothing to roll back to for recipe 0: v1 is the only version" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "models", "show", "v7", "-c", config)
    assert code != 0 and "no model version 'v7'" in err and "known: v1, v2" in err


def test_keygen_sign_and_a_registry_that_trusts_only_the_plant_key(
        tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "plant.key"
    code, out, _ = run(capsys, "models", "keygen", "--out", str(key))
    assert code == 0 and key.stat().st_mode & 0o777 == 0o600 and (tmp_path / "plant.pub").exists()
    config = str(station_yaml(tmp_path, tiny_model, trusted=tmp_path / "plant.pub"))
    code, _, err = run(capsys, "models", "add", str(tiny_model), "-c", config)
    assert code != 0 and "is not signed" in err and "moldpilot models sign" in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err  # one line
    assert run(capsys, "models", "sign", str(tiny_model), "--key", str(key))[0] == 0
    code, out, _ = run(capsys, "models", "add", str(tiny_model), "-c", config)
    assert code == 0 and "signed" in out and "unsigned" not in out


def test_a_config_without_a_registry_section_says_how_to_add_one(
        tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = station_yaml(tmp_path, tiny_model)
    path.write_text(path.read_text().replace("registry: {path: reg}\n", ""))
    code, _, err = run(capsys, "models", "list", "-c", str(path))
    assert code != 0 and "has no registry: section" in err
