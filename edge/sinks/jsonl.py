"""JSONL sink: one line per verdict (Verdict.to_json), appended to a file, flushed after each trigger so
`tail -f` shows results as they happen and a crash loses at most the trigger being written."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

from edge.verdict import Verdict


class JsonlSink:
    wants_evidence = False

    def __init__(self, path: str | Path, name: str = "jsonl") -> None:
        self.path = Path(path)
        self.name = name
        self._file: IO[str] | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, verdicts: Sequence[Verdict]) -> None:
        assert self._file is not None, "JsonlSink.open() was not called"
        self._file.write("".join(v.to_json() + "\n" for v in verdicts))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
