"""The registry's append-only history (`history.jsonl`): one JSON line per event, never rewritten.

Each line: `at` (ISO time, UTC), `who`, `action` (added | candidate | promoted | rolled_back),
`version` (None for a cleared candidate), `sha256` of that version's graph, `recipe` (the RECIPE_ID an
activation is for; None for added / candidate). Which version a rollback returns to is read from it:
the activations of a recipe form a stack (promoted pushes, rolled_back pops), so rolling back twice
goes back two promotions.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.registry.files import append_line

log = logging.getLogger(__name__)

ACTIONS = ("added", "candidate", "promoted", "rolled_back")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class History:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, who: str, action: str, version: str | None, sha256: str | None,
               recipe: int | None = None) -> dict[str, Any]:
        assert action in ACTIONS, action
        record = {"at": now_iso(), "who": who, "action": action, "version": version, "sha256": sha256,
                  "recipe": recipe}
        append_line(self.path, json.dumps(record, separators=(",", ":")))
        return record

    def records(self) -> list[dict[str, Any]]:
        """Every whole line, oldest first; a torn last line (a write cut by a crash) is skipped."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for n, line in enumerate(lines, 1):
            try:
                out.append(json.loads(line))
            except ValueError:
                log.warning("%s line %d is not whole (a write cut short); skipped", self.path, n)
        return out

    def activations(self, recipe: int) -> list[str]:
        """The stack of versions activated for `recipe`, the active one last."""
        stack: list[str] = []
        for record in self.records():
            if record.get("recipe") != recipe:
                continue
            if record["action"] == "promoted":
                stack.append(record["version"])
            elif record["action"] == "rolled_back" and stack:
                stack.pop()
                if not stack or stack[-1] != record["version"]:  # a hand-edited pointer: follow the record
                    stack.append(record["version"])
        return stack
