"""The model card: the contract between an ONNX defect model and the edge runtime.

A card says how to feed the model (input name, shape, layout, colour, resize, mean/std), what it returns
(class probabilities, optionally a coarse defect heatmap), how to read the result (class names, the `ok`
class, decision threshold(s) chosen on validation data) and where it came from (training data summary,
validation metrics, pretrained-weight provenance, quantisation).

It is stored twice, on purpose:
- inside the ONNX file, in `metadata_props` under the key `moldpilot.card`, so the file carries its own
  contract wherever it is copied;
- as a sidecar `MODEL.card.json` next to `MODEL.onnx`, so a person can read it without tools.
The runtime (edge/pipeline/runner.py) refuses a model whose two copies disagree.

`sha256` is the hash of the graph *without* the card entry: copy the ModelProto, drop the
`moldpilot.card` metadata entry, serialise with `deterministic=True`, hash. That makes the hash
independent of the card that carries it, so embedding the card does not change it, and any edit to the
graph, a weight, or another metadata entry does. The runtime checks it on the file's bytes without
importing onnx (`file_card`, `file_sha256`).

This module must not import `edge` (edge imports models, never the reverse), so its errors are
`CardError(ValueError)`; the runner wraps them into `edge.errors.ModelError`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models import onnx_wire

if TYPE_CHECKING:  # the runtime reads cards and hashes from the file's bytes (models/onnx_wire.py)
    import onnx

CARD_KEY = "moldpilot.card"
CARD_SCHEMA = "moldpilot.card/1"
SIDECAR_SUFFIX = ".card.json"


class CardError(ValueError):
    """A model card is missing, malformed or does not fit its model; the message names file and fix."""


class _Strict(BaseModel):
    """Unknown keys fail loudly: a typo in a card must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ResizeSpec(_Strict):
    """Target size of the image fed to the model; cv2 interpolation `area` (shrink) or `linear`."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    interpolation: Literal["area", "linear"] = "area"


class InputSpec(_Strict):
    """The single model input. The batch dimension may be dynamic (-1 or None); H, W, C must be fixed.

    `normalize_in_graph: true` means the graph takes raw uint8 pixels and applies mean/std itself
    (mean/std are then documentation of what the graph does); otherwise the caller must normalise.
    """

    name: str
    shape: list[int | None] = Field(min_length=4, max_length=4)
    dtype: Literal["uint8", "float32"] = "uint8"
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    colour: Literal["bgr", "rgb", "gray"] = "bgr"
    resize: ResizeSpec
    mean: list[float] = Field(default_factory=lambda: [0.0, 0.0, 0.0])
    std: list[float] = Field(default_factory=lambda: [1.0, 1.0, 1.0])
    normalize_in_graph: bool = True

    @property
    def channels(self) -> int:
        return 1 if self.colour == "gray" else 3

    @property
    def height_width(self) -> tuple[int, int]:
        """(H, W) from the shape, per layout."""
        h, w = (self.shape[1], self.shape[2]) if self.layout == "NHWC" else (self.shape[2], self.shape[3])
        return int(h), int(w)  # type: ignore[arg-type]  # checked non-null in the validator

    @model_validator(mode="after")
    def _consistent(self) -> InputSpec:
        batch, *rest = self.shape
        if batch is not None and batch != -1 and batch < 1:
            raise ValueError(f"input.shape batch must be >= 1, -1 or null, got {batch}")
        if any(d is None or d < 1 for d in rest):
            raise ValueError(f"input.shape {self.shape}: only the batch dimension may be dynamic")
        c = self.shape[3] if self.layout == "NHWC" else self.shape[1]
        if c != self.channels:
            raise ValueError(f"input.shape {self.shape} has {c} channels but colour {self.colour!r} "
                             f"needs {self.channels}")
        if (self.resize.height, self.resize.width) != self.height_width:
            raise ValueError(f"input.resize {self.resize.width}x{self.resize.height} (WxH) does not match "
                             f"input.shape {self.shape} ({self.layout})")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"input.mean/std need {self.channels} values for colour {self.colour!r}")
        if any(s == 0 for s in self.std):
            raise ValueError("input.std must not contain 0")
        return self


class OutputSpec(_Strict):
    """One model output: `classifier` probs [N, C], `heatmap` [N, h, w], or `anomaly_score` [N]."""

    name: str
    kind: Literal["classifier", "heatmap", "anomaly_score"]
    shape: list[int | None]


class ModelCard(_Strict):
    """The contract of one ONNX defect model. Field names are the agreed API (trainer and runner)."""

    schema_: Literal["moldpilot.card/1"] = Field(default=CARD_SCHEMA, alias="schema")
    name: str
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    input: InputSpec
    outputs: list[OutputSpec] = Field(min_length=1)
    class_names: list[str] = Field(min_length=2)
    ok_class: str = "ok"
    threshold: float = Field(ge=0.0, le=1.0, description="decision threshold on P(defect) = 1 - P(ok)")
    thresholds_per_class: dict[str, float] | None = None
    sha256: str = Field(default="", description="graph hash without the card entry; set by embed_card")
    training: dict = Field(default_factory=dict)
    validation: dict = Field(default_factory=dict)
    provenance: dict = Field(default_factory=dict)
    quantization: dict | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names has duplicates: {self.class_names}")
        if self.ok_class not in self.class_names:
            raise ValueError(f"ok_class {self.ok_class!r} is not in class_names {self.class_names}")
        names = [o.name for o in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"output names must be unique, got {names}")
        classifiers = [o for o in self.outputs if o.kind == "classifier"]
        if len(classifiers) != 1:
            raise ValueError(f"a card needs exactly one 'classifier' output, got {len(classifiers)}")
        n_classes = classifiers[0].shape[-1] if classifiers[0].shape else None
        if n_classes not in (None, -1) and n_classes != len(self.class_names):
            raise ValueError(f"classifier output {classifiers[0].name!r} has {n_classes} classes but "
                             f"class_names lists {len(self.class_names)}")
        for cls, t in (self.thresholds_per_class or {}).items():
            if cls not in self.class_names or cls == self.ok_class:
                raise ValueError(f"thresholds_per_class key {cls!r} is not a defect class")
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"thresholds_per_class[{cls!r}] = {t} is outside [0, 1]")
        return self

    def output(self, kind: str) -> OutputSpec | None:
        """The first output of this kind, or None."""
        return next((o for o in self.outputs if o.kind == kind), None)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


def _parse(text: str, where: str) -> ModelCard:
    try:
        return ModelCard.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise CardError(f"model card in {where} is not valid JSON ({exc.msg} at char {exc.pos}); "
                        "re-export the model") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(card)"
        raise CardError(f"model card in {where} is invalid: {loc}: {first['msg']} "
                        f"({exc.error_count()} error(s)); fix the card or re-export the model") from exc


def graph_sha256(model: onnx.ModelProto) -> str:
    """Hex sha256 of the model serialised deterministically without its `moldpilot.card` entry."""
    stripped = type(model)()
    stripped.CopyFrom(model)
    keep = [(p.key, p.value) for p in stripped.metadata_props if p.key != CARD_KEY]
    del stripped.metadata_props[:]
    for key, value in keep:
        stripped.metadata_props.add(key=key, value=value)
    return hashlib.sha256(stripped.SerializeToString(deterministic=True)).hexdigest()


def embed_card(model: onnx.ModelProto, card: ModelCard) -> None:
    """Set `card.sha256` from the graph and write the card into the model's metadata (replacing any)."""
    card.sha256 = graph_sha256(model)
    keep = [(p.key, p.value) for p in model.metadata_props if p.key != CARD_KEY]
    del model.metadata_props[:]
    for key, value in keep:
        model.metadata_props.add(key=key, value=value)
    model.metadata_props.add(key=CARD_KEY, value=card.model_dump_json(by_alias=True))


def embedded_card(model: onnx.ModelProto, where: str = "model") -> ModelCard | None:
    """The card embedded in an already loaded model, or None if it has none."""
    text = next((p.value for p in model.metadata_props if p.key == CARD_KEY), None)
    return None if text is None else _parse(text, where)


def file_card(data: bytes, where: str) -> ModelCard | None:
    """The card embedded in a model file's bytes, or None if it has none. ValueError (CardError for a
    bad card) when the bytes are not an ONNX file."""
    text = next((e.value for e in onnx_wire.metadata(data) if e.key == CARD_KEY), None)
    return None if text is None else _parse(text, where)


def file_sha256(data: bytes, card: ModelCard) -> str:
    """graph_sha256 of the model file `data`, for comparing with `card.sha256`.

    onnx writes a model's fields in field order, so a file it wrote is, without its card's record,
    exactly the serialisation graph_sha256 hashes: when those bytes hash to the card's figure, that is
    the answer without parsing the graph. Otherwise (a changed file, or one another writer ordered
    differently) the model is parsed with onnx and hashed as graph_sha256 does, so the answer never
    depends on which way it was found."""
    kept, at = [], 0
    for entry in onnx_wire.metadata(data):
        if entry.key == CARD_KEY:
            kept.append(memoryview(data)[at:entry.start])
            at = entry.end
    digest = hashlib.sha256()
    for part in (*kept, memoryview(data)[at:]):
        digest.update(part)
    if digest.hexdigest() == card.sha256:
        return card.sha256
    import onnx

    return graph_sha256(onnx.load_model_from_string(data))


def read_card(onnx_path: str | Path) -> ModelCard:
    """The card embedded in an ONNX file; CardError if the file has none."""
    path = Path(onnx_path)
    try:
        card = file_card(path.read_bytes(), str(path))
    except CardError:
        raise
    except (OSError, ValueError) as exc:
        raise CardError(f"cannot read ONNX file {path}: {exc}; check the path") from exc
    if card is None:
        raise CardError(f"{path} has no embedded '{CARD_KEY}' metadata; "
                        "export it with models.card.save_model")
    return card


def sidecar_path(onnx_path: str | Path) -> Path:
    """MODEL.onnx -> MODEL.card.json (same folder)."""
    path = Path(onnx_path)
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def write_sidecar(card: ModelCard, onnx_path: str | Path) -> Path:
    """Write the card as MODEL.card.json next to MODEL.onnx; returns the sidecar path."""
    out = sidecar_path(onnx_path)
    out.write_text(card.to_json() + "\n", encoding="utf-8")
    return out


def load_sidecar(path: str | Path) -> ModelCard:
    """Read a sidecar card. `path` may be the MODEL.card.json itself or the MODEL.onnx it belongs to."""
    path = Path(path)
    if not path.name.endswith(SIDECAR_SUFFIX):
        path = sidecar_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CardError(f"cannot read model card {path}: {exc.strerror}; "
                        "put MODEL.card.json next to MODEL.onnx") from exc
    return _parse(text, str(path))


def save_model(model: onnx.ModelProto, card: ModelCard, onnx_path: str | Path) -> Path:
    """Embed the card, save MODEL.onnx and write MODEL.card.json; returns the sidecar path."""
    embed_card(model, card)
    path = Path(onnx_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())  # as onnx.save writes a model of under 2 GB
    return write_sidecar(card, path)
