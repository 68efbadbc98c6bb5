"""The model registry on real ONNX files (tests/tiny_model.py): versions, pointers, history, the
sha256 guard and the plant signature (a key pair generated in tmp_path, never committed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from edge.errors import ModelError
from edge.registry import Registry, RegistryError
from edge.registry.signing import keygen, sign, signature_path
from tests.waiting import wait_until

MakeModel = Callable[..., Path]


@pytest.fixture
def two_models(tiny_model_factory: MakeModel) -> tuple[Path, Path]:
    return tiny_model_factory("first", seed=0), tiny_model_factory("second", seed=1)


def test_add_promote_rollback_and_history(tmp_path: Path, two_models: tuple[Path, Path]) -> None:
    registry = Registry(tmp_path / "reg")
    first, second = (registry.add(m, "jun", note=f"from {m.name}") for m in two_models)
    assert (first.version, second.version) == ("v1", "v2")
    assert first.sha256 != second.sha256 and first.path == tmp_path / "reg" / "v1" / "model.onnx"
    assert first.note == "from first.onnx" and first.added_by == "jun" and not first.signed
    assert registry.active() is None and [v.version for v in registry.versions()] == ["v1", "v2"]
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback("jun")

    registry.promote("v1", "station")
    registry.set_candidate("v2", "mina")
    assert registry.candidate().version == "v2"  # type: ignore[union-attr]
    registry.promote("v2", "jun")
    assert registry.active().version == "v2" and registry.candidate() is None  # type: ignore[union-attr]
    with pytest.raises(RegistryError, match="already the active"):
        registry.promote("v2", "jun")
    assert registry.rollback("mina").version == "v1"
    assert registry.active().version == "v1"  # type: ignore[union-attr]
    with pytest.raises(RegistryError, match="v1 is the only version"):
        registry.rollback("mina")
    with pytest.raises(RegistryError, match=r"no model version 'v9'.*known: v1, v2"):
        registry.promote("v9", "jun")

    history = registry.history()
    assert [(h["action"], h["version"], h["who"], h["recipe"]) for h in history] == [
        ("added", "v1", "jun", None), ("added", "v2", "jun", None), ("promoted", "v1", "station", 0),
        ("candidate", "v2", "mina", None), ("promoted", "v2", "jun", 0), ("rolled_back", "v1", "mina", 0)]
    assert all(h["at"].endswith("+00:00") and len(h["sha256"]) == 64 for h in history)
    # A second Registry on the same folder reads the same state (the CLI and the station at once).
    again = Registry(tmp_path / "reg")
    assert again.active_name() == "v1" and again.history() == history


def test_pointers_per_recipe_and_validation_record(tmp_path: Path, two_models: tuple[Path, Path]) -> None:
    registry = Registry(tmp_path / "reg")
    for m in two_models:
        registry.add(m, "jun")
    registry.promote("v1", "jun")
    registry.promote("v2", "jun", recipe_id=3)
    assert registry.active().version == "v1" and registry.active(3).version == "v2"  # type: ignore[union-attr]
    assert registry.validation("v2") is None
    registry.save_validation("v2", {"summary": {"escape_rate": 0.0, "false_reject_rate": 0.01}})
    assert registry.validation("v2") == {"summary": {"escape_rate": 0.0, "false_reject_rate": 0.01}}


def test_a_damaged_model_is_refused_on_add_and_on_load(tmp_path: Path, tiny_model: Path) -> None:
    damaged = _one_weight_byte_flipped(tiny_model, tmp_path / "damaged.onnx")
    registry = Registry(tmp_path / "reg")
    with pytest.raises(ModelError, match=r"damaged.onnx was damaged or modified after its card"):
        registry.add(damaged, "jun")
    assert registry.versions() == [] and registry.history() == []

    entry = registry.add(tiny_model, "jun")
    registry.promote(entry.version, "jun")
    _one_weight_byte_flipped(entry.path, entry.path)  # damaged on disk after it was added
    with pytest.raises(ModelError, match="registry version v1 was damaged or modified"):
        registry.active()
    assert registry.versions()[0].version == "v1"  # still listed, so a person can see and remove it


def _one_weight_byte_flipped(source: Path, out: Path) -> Path:
    model = onnx.load(str(source))
    weights = next(i for i in model.graph.initializer if i.name == "W")
    weights.raw_data = bytes([weights.raw_data[0] ^ 0xFF]) + weights.raw_data[1:]
    onnx.save(model, str(out))
    return out


def test_signed_models_only_with_trusted_keys(tmp_path: Path, two_models: tuple[Path, Path]) -> None:
    plant_key, plant_pub = keygen(tmp_path / "plant.key")
    other_key, _ = keygen(tmp_path / "other.key")
    assert plant_key.stat().st_mode & 0o777 == 0o600 and plant_pub.read_text().startswith("-----BEGIN PUBLIC")
    with pytest.raises(ModelError, match="exists"):
        keygen(tmp_path / "plant.key")
    first, second = two_models
    registry = Registry(tmp_path / "reg", trusted_keys=[plant_pub])

    with pytest.raises(ModelError, match=r"first.onnx is not signed \(first.onnx.sig missing\).*"
                                         r"plant.pub.*moldpilot models sign"):
        registry.add(first, "jun")
    sign(first, plant_key)
    entry = registry.add(first, "jun")
    assert entry.signed and signature_path(entry.path).exists()
    assert registry.get("v1").signed

    sign(second, other_key)  # signed, but not by the plant
    with pytest.raises(ModelError, match=r"second.onnx: its signature second.onnx.sig does not match any "
                                         r"trusted key \(.*plant.pub\)"):
        registry.add(second, "jun")
    assert [v.version for v in registry.versions()] == ["v1"]

    # The signature guards the stored file too: a model swapped in the registry's folder is refused.
    entry.path.write_bytes(second.read_bytes())
    (entry.path.parent / "model.card.json").write_text(
        (second.parent / "second.card.json").read_text())
    with pytest.raises(ModelError, match="registry version v1: its signature"):
        registry.get("v1")


def test_an_unsigned_registry_records_a_signature_it_cannot_check(tmp_path: Path, tiny_model: Path) -> None:
    key, _ = keygen(tmp_path / "plant.key")
    sign(tiny_model, key)
    assert Registry(tmp_path / "reg").add(tiny_model, "jun").signed


def test_a_pointer_is_never_half_written_under_sigkill(tmp_path: Path, two_models: tuple[Path, Path]) -> None:
    """A child process promotes and rolls back in a loop; SIGKILLed at some point, the pointer still
    names a whole version and every history line but maybe a torn last one is whole JSON."""
    root = tmp_path / "reg"
    registry = Registry(root)
    for m in two_models:
        registry.add(m, "jun")
    registry.promote("v1", "jun")
    script = ("from pathlib import Path\nfrom edge.registry import Registry\n"
              f"r = Registry(Path({str(root)!r}))\n"
              "print('go', flush=True)\nwhile True:\n    r.promote('v2', 'loop')\n    r.rollback('loop')\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).parents[3])
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "go"
        wait_until(lambda: len((root / "history.jsonl").read_text().splitlines()) > 40,
                   "the child to move the pointer a few times", 120)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    after = Registry(root)
    assert after.active_name() in ("v1", "v2") and after.active() is not None
    lines = (root / "history.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines[:-1])
