"""models/card.py: the card survives both storage paths, and its hash pins the graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from models.card import (
    CARD_KEY,
    CardError,
    ModelCard,
    embed_card,
    graph_sha256,
    load_sidecar,
    read_card,
    save_model,
    sidecar_path,
)
from tests.tiny_model import build_tiny_graph, tiny_card


def test_round_trip_embedded_and_sidecar(tiny_model: Path) -> None:
    embedded = read_card(tiny_model)
    sidecar = load_sidecar(tiny_model.with_name("tiny.card.json"))
    assert embedded == sidecar
    assert load_sidecar(tiny_model) == sidecar  # the .onnx path finds its sidecar too
    assert embedded.schema_ == "moldpilot.card/1"
    assert embedded.class_names[0] == "ok" and embedded.input.height_width == (64, 64)
    raw = json.loads(sidecar_path(tiny_model).read_text())
    assert raw["schema"] == "moldpilot.card/1" and "schema_" not in raw


def test_sha256_ignores_the_card_and_survives_save_load(tiny_model: Path) -> None:
    model = onnx.load(str(tiny_model))
    card = read_card(tiny_model)
    assert graph_sha256(model) == card.sha256 and len(card.sha256) == 64
    embed_card(model, card.model_copy(update={"threshold": 0.9}))  # a new card does not move the hash
    assert graph_sha256(model) == card.sha256
    assert sum(p.key == CARD_KEY for p in model.metadata_props) == 1


def test_sha256_changes_with_one_weight(tmp_path: Path) -> None:
    model = build_tiny_graph()
    before = graph_sha256(model)
    w = next(i for i in model.graph.initializer if i.name == "W")
    arr = numpy_helper.to_array(w).copy()
    arr[0, 0] = np.nextafter(arr[0, 0], np.float32(np.inf))
    w.CopyFrom(numpy_helper.from_array(arr, "W"))
    assert graph_sha256(model) != before


def test_unknown_key_and_bad_values_are_refused() -> None:
    good = json.loads(tiny_card().to_json())
    with pytest.raises(ValueError, match="extra"):
        ModelCard.model_validate({**good, "thresold": 0.3})
    with pytest.raises(ValueError, match="ok_class"):
        ModelCard.model_validate({**good, "ok_class": "good"})
    with pytest.raises(ValueError, match="classes"):
        ModelCard.model_validate({**good, "class_names": ["ok", "flash"]})
    bad_input = {**good["input"], "shape": [-1, 64, 64, 1]}
    with pytest.raises(ValueError, match="channels"):
        ModelCard.model_validate({**good, "input": bad_input})


def test_missing_card_and_broken_sidecar_are_card_errors(tmp_path: Path) -> None:
    bare = tmp_path / "bare.onnx"
    onnx.save(build_tiny_graph(), str(bare))
    with pytest.raises(CardError, match=r"no embedded 'moldpilot\.card'"):
        read_card(bare)
    with pytest.raises(CardError, match="cannot read model card"):
        load_sidecar(bare)
    sidecar_path(bare).write_text('{"schema": "moldpilot.card/1", "name": 3}')
    with pytest.raises(CardError, match="invalid"):
        load_sidecar(bare)


def test_save_model_returns_sidecar(tmp_path: Path) -> None:
    out = save_model(build_tiny_graph(), tiny_card(), tmp_path / "sub" / "m.onnx")
    assert out == tmp_path / "sub" / "m.card.json" and out.exists()
