"""models/onnx_wire.py and the card checks built on it (models/card.py file_card, file_sha256): they read
a model file as onnx does, and a replay or a run never imports onnx, scipy or the web stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from models import onnx_wire
from models.card import CARD_KEY, embedded_card, file_card, file_sha256, graph_sha256, read_card

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "models" / "default").glob("*.onnx"))


@pytest.fixture(params=["tiny", *[p.name for p in SHIPPED]])
def model_file(request: pytest.FixtureRequest, tiny_model: Path) -> Path:
    return tiny_model if request.param == "tiny" else ROOT / "models" / "default" / request.param


def test_the_wire_reads_what_onnx_reads(model_file: Path) -> None:
    data = model_file.read_bytes()
    model = onnx.load_model_from_string(data)
    entries = [(e.key, e.value) for e in onnx_wire.metadata(data)]
    assert entries == [(p.key, p.value) for p in model.metadata_props]
    assert onnx_wire.op_types(data) == {node.op_type for node in model.graph.node}
    card = file_card(data, str(model_file))
    assert card is not None and card == embedded_card(model)
    assert file_sha256(data, card) == graph_sha256(model) == card.sha256


def test_a_file_written_in_another_field_order_is_hashed_by_parsing_it(tiny_model: Path) -> None:
    """The card's record moved to the front: the same model, so the same sha256, although its bytes
    without the card are no longer graph_sha256's serialisation (the fast path misses, onnx decides)."""
    data = tiny_model.read_bytes()
    card = read_card(tiny_model)
    reordered = _card_first(data)
    assert onnx.load_model_from_string(reordered) == onnx.load_model_from_string(data)
    assert file_sha256(reordered, card) == card.sha256
    edited = onnx.load_model_from_string(data)
    edited.graph.doc_string = "edited"  # a real edit stays an edit on either path
    assert file_sha256(_card_first(edited.SerializeToString()), card) != card.sha256
    assert file_sha256(edited.SerializeToString(), card) != card.sha256


def _card_first(data: bytes) -> bytes:
    (entry,) = [e for e in onnx_wire.metadata(data) if e.key == CARD_KEY]
    return data[entry.start:entry.end] + data[:entry.start] + data[entry.end:]


@pytest.mark.parametrize(("cut", "message"), [
    (lambda d: d[:-7], r"runs past the end of its message|truncated"),
    (lambda d: b"\x0b" + d, r"wire type 3 \(field 1\) at byte 0"),
])
def test_bytes_that_are_not_protobuf_name_the_byte(tiny_model: Path, cut, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        onnx_wire.metadata(cut(tiny_model.read_bytes()))


def test_a_replay_loads_neither_onnx_nor_scipy_nor_the_web_stack() -> None:
    """What `moldpilot replay` and `run` import to build the station and its model: about a CPU-second
    and 100 MB less than the whole kit (issue 22), the budget of start-up to the first verdict."""
    heavy = ("onnx", "ml_dtypes", "scipy", "starlette", "uvicorn", "argon2", "selenium")
    script = (
        "import sys\n"
        "from edge.cli import build_parser, verb_in\n"
        "for argv in (['replay', 'f.avi'], ['--log-level', 'WARNING', 'run', '-c', 's.yaml']):\n"
        "    build_parser(verb_in(argv)).parse_args(argv)\n"
        "import edge.station\n"
        "from edge.pipeline.runner import ModelRunner\n"
        f"ModelRunner({str(SHIPPED[0])!r})\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
