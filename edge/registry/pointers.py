"""The registry's pointers: small files holding one version name each, replaced atomically
(edge/registry/files.py), so a crash leaves the old pointer or the new one.

`active` is recipe 0's (station.yaml `model:`), `active.<recipe id>` another recipe's, `candidate` the
version under test (validated, shadowed) before anyone promotes it.
"""

from __future__ import annotations

from pathlib import Path

from edge.registry.files import sync_folder, write_atomic


class Pointers:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        return self.root / name

    @staticmethod
    def active_name(recipe_id: int) -> str:
        return "active" if recipe_id == 0 else f"active.{recipe_id}"

    def read(self, name: str) -> str | None:
        try:
            value = self._path(name).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return value or None

    def write(self, name: str, version: str | None) -> None:
        path = self._path(name)
        if version is None:
            path.unlink(missing_ok=True)
            sync_folder(self.root)
        else:
            write_atomic(path, version + "\n")
