"""The model registry: `<root>/<version>/model.onnx` (+ `model.card.json`, `meta.json`, the signature
`model.onnx.sig` if any, `validation.json` once validated), the history and the pointers.

A version is written whole into a hidden folder and renamed into place, so a crash during `add` leaves
no half version. Its card's sha256 is checked against the graph when it is added and every time it is
loaded (`get`): a file damaged on disk is refused with the version's name. With `trusted_keys`, every
model must also carry a signature one of them verifies, on `add` and on `get`. Writers (add, promote,
roll back, candidate) hold an flock on `<root>/.lock`, so the console and the CLI can write at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import ModelError, MoldPilotError
from edge.registry import signing
from edge.registry.files import sync_folder, write_atomic
from edge.registry.history import History, now_iso
from edge.registry.pointers import Pointers
from models.card import CardError, ModelCard, file_card, file_sha256, load_sidecar, sidecar_path

MODEL_FILE = "model.onnx"
VERSION_NAME = re.compile(r"^v([1-9][0-9]*)$")


class RegistryError(MoldPilotError):
    """Something asked of the registry that it cannot do (unknown version, nothing to roll back to)."""


@dataclass(frozen=True)
class ModelVersion:
    version: str  # "v3"
    path: Path  # its model.onnx
    card: ModelCard
    sha256: str  # the card's graph hash (models/card.py)
    added_at: str  # ISO time, UTC
    added_by: str
    note: str
    signed: bool  # a signature is stored with it (verified on add and load when keys are trusted)

    def summary(self) -> dict[str, Any]:
        """What a list shows: JSON-ready, without the card's training details."""
        return {"version": self.version, "name": self.card.name, "created": self.card.created,
                "added_at": self.added_at, "added_by": self.added_by, "note": self.note,
                "sha256": self.sha256, "signed": self.signed, "classes": self.card.class_names,
                "threshold": self.card.threshold}


class Registry:
    def __init__(self, root: Path, trusted_keys: Sequence[Path] = ()) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.trusted_keys = [Path(p) for p in trusted_keys]
        self._keys = signing.load_public_keys(self.trusted_keys)
        self._history = History(self.root / "history.jsonl")
        self._pointers = Pointers(self.root)

    # -- reading --------------------------------------------------------------------------------------

    def versions(self) -> list[ModelVersion]:
        """Every version, oldest first, read from their sidecar cards (not re-hashed: see `get`)."""
        found = sorted((int(m.group(1)), p.name) for p in self.root.iterdir()
                       if p.is_dir() and (m := VERSION_NAME.match(p.name)))
        return [self._read(name) for _, name in found]

    def get(self, version: str) -> ModelVersion:
        """One version, checked: its graph against its card's sha256, its signature against the trusted
        keys. A ModelError names the version when the file was damaged or is not signed as required."""
        entry = self._read(version)
        data = _read_bytes(entry.path)
        card = _checked_card(data, entry.path, f"registry version {version}")
        if card.sha256 != entry.sha256:
            raise ModelError(f"registry version {version}: its model.onnx and model.card.json disagree "
                             "(sha256); restore the version or add the model again")
        if self._keys:
            sig = signing.signature_path(entry.path)
            signing.verify(data, sig, self._keys, f"registry version {version}")
        return entry

    def active(self, recipe_id: int = 0) -> ModelVersion | None:
        name = self._pointers.read(Pointers.active_name(recipe_id))
        return self.get(name) if name else None

    def candidate(self) -> ModelVersion | None:
        name = self._pointers.read("candidate")
        return self.get(name) if name else None

    def active_name(self, recipe_id: int = 0) -> str | None:
        """The active version's name only (no file read): for lists and pages."""
        return self._pointers.read(Pointers.active_name(recipe_id))

    def candidate_name(self) -> str | None:
        return self._pointers.read("candidate")

    def history(self) -> list[dict[str, Any]]:
        return self._history.records()

    def validation(self, version: str) -> dict[str, Any] | None:
        path = self._folder(version) / "validation.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def rollback_target(self, recipe_id: int = 0) -> ModelVersion:
        """The version a rollback would activate: the one active before the current one."""
        stack = self._history.activations(recipe_id)
        if len(stack) < 2:
            current = stack[-1] if stack else None
            raise RegistryError(f"nothing to roll back to for recipe {recipe_id}: "
                                + (f"{current} is the only version it has had" if current
                                   else "no version was ever promoted"))
        return self.get(stack[-2])

    # -- writing --------------------------------------------------------------------------------------

    def add(self, model_path: Path, who: str, note: str = "") -> ModelVersion:
        """A new version from an ONNX file with its card (and MODEL.onnx.sig if signed); refused when
        the graph is not its card's, or, with trusted keys, when it is not signed by one of them."""
        model_path = Path(model_path)
        data = _read_bytes(model_path)
        card = _checked_card(data, model_path, str(model_path))
        sig = signing.signature_path(model_path)
        if self._keys:
            signing.verify(data, sig, self._keys, str(model_path))
        with self._locked():
            version = f"v{self._next_number()}"
            tmp = Path(tempfile.mkdtemp(prefix=f".adding-{version}-", dir=self.root))
            try:
                (tmp / MODEL_FILE).write_bytes(data)
                (tmp / sidecar_path(MODEL_FILE).name).write_text(card.to_json() + "\n", encoding="utf-8")
                if sig.exists():
                    shutil.copyfile(sig, signing.signature_path(tmp / MODEL_FILE))
                meta = {"added_at": now_iso(), "added_by": who, "note": note, "source": str(model_path)}
                (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
                for f in tmp.iterdir():
                    _fsync(f)
                os.rename(tmp, self.root / version)
                sync_folder(self.root)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            self._history.append(who, "added", version, card.sha256)
        return self._read(version)

    def set_candidate(self, version: str | None, who: str) -> None:
        with self._locked():
            entry = self.get(version) if version is not None else None
            self._pointers.write("candidate", version)
            self._history.append(who, "candidate", version, entry.sha256 if entry else None)

    def promote(self, version: str, who: str, recipe_id: int = 0) -> ModelVersion:
        with self._locked():
            entry = self.get(version)
            name = Pointers.active_name(recipe_id)
            if self._pointers.read(name) == version:
                raise RegistryError(f"{version} is already the active version of recipe {recipe_id}")
            self._pointers.write(name, version)
            if self._pointers.read("candidate") == version:  # promoted: no longer a candidate
                self._pointers.write("candidate", None)
            self._history.append(who, "promoted", version, entry.sha256, recipe_id)
        return entry

    def rollback(self, who: str, recipe_id: int = 0) -> ModelVersion:
        """Back to the version active before the current one; returns it."""
        with self._locked():
            target = self.rollback_target(recipe_id)
            self._pointers.write(Pointers.active_name(recipe_id), target.version)
            self._history.append(who, "rolled_back", target.version, target.sha256, recipe_id)
        return target

    def save_validation(self, version: str, record: dict[str, Any]) -> None:
        self._folder(version)
        write_atomic(self._folder(version) / "validation.json", json.dumps(record, indent=2) + "\n")

    # -- inside ---------------------------------------------------------------------------------------

    def _folder(self, version: str) -> Path:
        folder = self.root / version
        if not VERSION_NAME.match(version) or not folder.is_dir():
            known = ", ".join(v.version for v in self.versions()) or "none yet"
            raise RegistryError(f"no model version {version!r} in {self.root} (known: {known}); "
                                "see `moldpilot models list`")
        return folder

    def _read(self, version: str) -> ModelVersion:
        folder = self._folder(version)
        path = folder / MODEL_FILE
        try:
            card = load_sidecar(path)
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (CardError, OSError, ValueError) as exc:
            raise ModelError(f"registry version {version} is damaged ({exc}); remove {folder} or restore "
                             "it from a backup") from None
        return ModelVersion(version=version, path=path, card=card, sha256=card.sha256,
                            added_at=meta.get("added_at", ""), added_by=meta.get("added_by", ""),
                            note=meta.get("note", ""), signed=signing.signature_path(path).exists())

    def _next_number(self) -> int:
        numbers = [int(m.group(1)) for p in self.root.iterdir() if (m := VERSION_NAME.match(p.name))]
        return max(numbers, default=0) + 1

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror}; check the path") from None


def _checked_card(data: bytes, path: Path, what: str) -> ModelCard:
    """The model's card (embedded, else its sidecar), refused when the graph's sha256 is not the
    card's (damaged or edited after export). The runner checks the rest when it loads the model."""
    try:
        sidecar = sidecar_path(path).exists()
        card = file_card(data, str(path)) or (load_sidecar(path) if sidecar else None)
    except CardError as exc:
        raise ModelError(f"{what}: {exc}") from None
    except UnicodeDecodeError as exc:  # a card that is not even text (bytes damaged inside it)
        raise ModelError(f"{what}: its embedded card is damaged ({exc}); re-export it or restore the "
                         "file") from None
    except ValueError as exc:
        raise ModelError(f"{what} is not a readable ONNX file ({exc}); re-export it") from None
    if card is None:
        raise ModelError(f"{what} has no model card; export it with models.card.save_model")
    actual = file_sha256(data, card)
    if actual != card.sha256:
        raise ModelError(f"{what} was damaged or modified after its card was written (sha256 "
                         f"{actual[:12]}… != card {card.sha256[:12]}…); re-export it or restore the file")
    return card


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
