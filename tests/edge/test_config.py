"""station.yaml validation: every class of bad config gets one clear line naming key, value and fix."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_config
from edge.errors import ConfigError
from edge.plc_settings import modbus_settings
from tests.tiny_model import tamper

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
station: {site: plant1, line: line3, name: press07}
source: {kind: file, uri: footage.avi, mode: triggered}
model: {path: model.onnx}
"""


@pytest.fixture
def station_dir(tmp_path: Path, tiny_model: Path) -> Path:
    shutil.copy(tiny_model, tmp_path / "model.onnx")  # a real model: `config check` verifies it
    return tmp_path


def write(station_dir: Path, text: str) -> Path:
    path = station_dir / "station.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_minimal_config_turns_optional_features_off(station_dir: Path) -> None:
    config = load_config(write(station_dir, MINIMAL))
    assert config.plc is None and config.mqtt is None and config.storage is None
    assert config.deadline_ms == 500
    assert config.topic_root == "plant1/line3/press07"
    # relative paths are resolved against the config file's folder
    assert Path(config.model.path) == station_dir / "model.onnx"


def test_example_config_is_valid_apart_from_its_model(tmp_path: Path) -> None:
    text = (REPO / "station.example.yaml").read_text(encoding="utf-8")
    (tmp_path / "models/default").mkdir(parents=True)
    (tmp_path / "models/default/sim_parts_v3_int8.onnx").write_bytes(b"x")
    config = load_config(write(tmp_path, text))
    assert config.plc is not None and config.plc.protocol == "modbus-rtu"
    assert config.alerts is not None and config.alerts.cavity_ng_rate is not None


def test_wrong_type_names_key_and_value(station_dir: Path) -> None:
    message = error_of(write(station_dir, MINIMAL + "deadline_ms: fast\n"))
    assert "'deadline_ms'" in message and "'fast'" in message and "number" in message
    assert "\n" not in message


def test_value_not_allowed_lists_the_choices(station_dir: Path) -> None:
    message = error_of(write(station_dir, MINIMAL.replace("triggered", "freerun")))
    assert "'source.mode'" in message and "'freerun'" in message
    assert "'triggered'" in message and "'free-run'" in message and "'replay'" in message


def test_unknown_key_suggests_the_right_one(station_dir: Path) -> None:
    message = error_of(write(station_dir, MINIMAL + "plc: {protocol: ascii, baudrat: 9600}\n"))
    assert "unknown key 'plc.baudrat'" in message and "did you mean 'baudrate'" in message


def test_unknown_section_is_refused(station_dir: Path) -> None:
    message = error_of(write(station_dir, MINIMAL + "mqqt: {host: localhost}\n"))
    assert "unknown key 'mqqt'" in message and "did you mean 'mqtt'" in message


def test_missing_required_section(station_dir: Path) -> None:
    message = error_of(write(station_dir, MINIMAL.replace("model: {path: model.onnx}\n", "")))
    assert message.endswith("missing required key 'model'")


def test_missing_model_file(station_dir: Path) -> None:
    message = error_of(write(station_dir, MINIMAL.replace("model.onnx", "nowhere.onnx")))
    assert "'model.path'" in message and "model file not found" in message and "nowhere.onnx" in message


def test_missing_config_file(tmp_path: Path) -> None:
    message = error_of(tmp_path / "absent.yaml")
    assert "config file not found" in message and "station.example.yaml" in message


def test_malformed_yaml_names_line_and_column(station_dir: Path) -> None:
    message = error_of(write(station_dir, MINIMAL + "plc:\n  protocol: ascii\n port: /dev/ttyUSB0\n"))
    assert "station.yaml:6:" in message and "malformed YAML" in message


def test_not_a_mapping(station_dir: Path) -> None:
    assert "expected a mapping" in error_of(write(station_dir, "- just\n- a list\n"))


def test_bad_roi_and_duplicate_cavities(station_dir: Path) -> None:
    bad_roi = error_of(write(station_dir, MINIMAL + "cavities: [{id: 1, roi: [0, 0, -5, 10]}]\n"))
    assert "'cavities.0.roi'" in bad_roi and "width>0" in bad_roi
    dup = "cavities: [{id: 1, roi: [0, 0, 5, 5]}, {id: 1, roi: [5, 0, 5, 5]}]\n"
    assert "repeated: [1]" in error_of(write(station_dir, MINIMAL + dup))


def test_recipes_by_recipe_id(station_dir: Path) -> None:
    recipes = "recipes: {7: {threshold: 0.2, thresholds: {flash: 0.4}}}\n"
    config = load_config(write(station_dir, MINIMAL + recipes))
    assert config.recipes is not None and config.recipes[7].threshold == 0.2
    assert config.recipes[7].thresholds == {"flash": 0.4}
    zero = error_of(write(station_dir, MINIMAL + "recipes: {0: {threshold: 0.2}}\n"))
    assert len(zero.splitlines()) == 1 and "RECIPE_ID 0 always uses the model section" in zero
    typo = error_of(write(station_dir, MINIMAL + "recipes: {3: {treshold: 0.2}}\n"))
    assert "unknown key 'recipes.3.treshold'; did you mean 'threshold'?" in typo
    out_of_range = error_of(write(station_dir, MINIMAL + "recipes: {3: {thresholds: {flash: 1.5}}}\n"))
    assert "'recipes.3.thresholds'" in out_of_range and "between 0 and 1" in out_of_range


def test_a_recipe_model_is_resolved_and_must_exist(station_dir: Path) -> None:
    (station_dir / "cosmetic.onnx").write_bytes(b"checked at start, not here")
    config = load_config(write(station_dir, MINIMAL + "recipes: {1: {model: cosmetic.onnx}, 2: {}}\n"))
    assert config.recipes is not None and config.recipes[1].model == str(station_dir / "cosmetic.onnx")
    assert config.recipes[2].model is None  # the model section's
    missing = error_of(write(station_dir, MINIMAL + "recipes: {1: {}, 4: {model: nowhere.onnx}}\n"))
    assert len(missing.splitlines()) == 1
    assert "key 'recipes.4.model' = 'nowhere.onnx': model file not found" in missing
    assert str(station_dir / "nowhere.onnx") in missing


def test_cli_config_check_names_recipe_models(station_dir: Path) -> None:
    shutil.copy(station_dir / "model.onnx", station_dir / "cosmetic.onnx")
    path = write(station_dir, MINIMAL + "recipes: {1: {threshold: 0.3}, 2: {model: cosmetic.onnx}}\n")
    check = subprocess.run([sys.executable, "-m", "edge.cli", "config", "check", str(path)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    model = station_dir / "cosmetic.onnx"
    assert f"recipes   RECIPE_ID 1, 2 (0 = model section); 2: model {model}" in check.stdout
    bad = write(station_dir, MINIMAL + "recipes: {2: {model: nowhere.onnx}}\n")
    failed = subprocess.run([sys.executable, "-m", "edge.cli", "config", "check", str(bad)],
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and "'recipes.2.model'" in failed.stderr


def test_several_mistakes_each_get_a_line(station_dir: Path) -> None:
    message = error_of(write(station_dir, MINIMAL + "deadline_ms: -1\nplc: {unit_id: 900}\n"))
    assert len(message.splitlines()) == 2


def test_cli_config_check_exit_codes(station_dir: Path) -> None:
    good = write(station_dir, MINIMAL)
    ok = subprocess.run(
        [sys.executable, "-m", "edge.cli", "config", "check", str(good)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout and "mqtt      off" in ok.stdout
    bad = write(station_dir, MINIMAL + "deadline_ms: fast\n")
    failed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "config", "check", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 2
    assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr


def test_modbus_tcp_binds_loopback_and_serves_only_listed_plcs_by_default(station_dir: Path) -> None:
    plc = load_config(write(station_dir, MINIMAL + "plc: {protocol: modbus-tcp}\n")).plc
    assert plc is not None
    settings = modbus_settings(plc)
    assert settings.host == "127.0.0.1" and settings.tcp_guard.allowed_clients == ("127.0.0.1",)
    bad = write(station_dir, MINIMAL + "plc: {protocol: modbus-tcp, allowed_clients: [plc-1]}\n")
    assert "'plc.allowed_clients' = ['plc-1']: 'plc-1' is not an IP address or network" in error_of(bad)


def test_disk_alert_must_come_before_the_reserve(station_dir: Path) -> None:
    bad = write(station_dir, MINIMAL + "storage: {min_free_mb: 500, warn_free_mb: 100}\n")
    assert "warn_free_mb (100) must be at least min_free_mb (500)" in error_of(bad)


def _config_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "config", "check", str(path)],
                          capture_output=True, text=True, check=False)


def test_config_check_refuses_a_tampered_model_as_run_does(station_dir: Path) -> None:
    """Issue 17: run, replay and doctor refused it; config check (the unit's ExecStartPre) said OK."""
    shutil.copy(station_dir / "model.onnx", station_dir / "cosmetic.onnx")
    tamper(station_dir / "cosmetic.onnx")
    path = write(station_dir, MINIMAL + "recipes: {2: {model: cosmetic.onnx}}\n")
    check = _config_check(path)
    assert check.returncode == 2 and "Traceback" not in check.stderr
    assert check.stderr.count("\n") == 1
    assert "cosmetic.onnx was modified after its card was written" in check.stderr
