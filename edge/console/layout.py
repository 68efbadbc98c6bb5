"""A cavity layout from the ROI editor: checked against the frame, validated by the station.yaml
model itself, and written into station.yaml atomically with the previous version kept beside it.

Only the top-level `cavities:` block of the file is replaced; the user's comments and the order of
every other section stay as they were.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edge.config import CavitySection, StationConfig, load_config

RoiXywh = tuple[int, int, int, int]
Problem = tuple[str, dict[str, Any]]  # catalogue key, its values
_TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")


def parse_layout(body: Any) -> tuple[list[tuple[int, RoiXywh]], list[Problem]]:
    """[(cavity id, roi)] from the editor's JSON body, or what is malformed in it."""
    items = body.get("cavities") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return [], [("roi.err.empty", {})]
    out: list[tuple[int, RoiXywh]] = []
    for item in items:
        try:
            roi = tuple(round(float(v)) for v in item["roi"])
            if len(roi) != 4:
                raise ValueError
            out.append((int(item["id"]), roi))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            return [], [("roi.err.malformed", {})]
    return out, []


def layout_problems(layout: Sequence[tuple[int, RoiXywh]], frame_wh: tuple[int, int]) -> list[Problem]:
    """Zero size, outside the frame, overlapping cavities, repeated or out-of-range numbers."""
    problems: list[Problem] = []
    width, height = frame_wh
    ids = [cavity for cavity, _ in layout]
    for cavity in sorted({c for c in ids if ids.count(c) > 1}):
        problems.append(("roi.err.repeated", {"n": cavity}))
    for cavity, (x, y, w, h) in layout:
        if not 1 <= cavity <= 16:
            problems.append(("roi.err.number", {"n": cavity}))
        if w <= 0 or h <= 0:
            problems.append(("roi.err.zero", {"n": cavity}))
        elif x < 0 or y < 0 or x + w > width or y + h > height:
            problems.append(("roi.err.outside", {"n": cavity, "w": width, "h": height}))
    for i, (a, ra) in enumerate(layout):
        for b, rb in layout[i + 1:]:
            if _overlap(ra, rb):
                problems.append(("roi.err.overlap", {"a": a, "b": b}))
    return problems


def _overlap(a: RoiXywh, b: RoiXywh) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def sections_of(layout: Sequence[tuple[int, RoiXywh]], config: StationConfig) -> list[CavitySection]:
    """The layout validated by the same model as station.yaml (ValidationError when it refuses)."""
    data = config.model_dump(mode="json", exclude_none=True)
    data["cavities"] = [{"id": c, "roi": list(roi)} for c, roi in sorted(layout)]
    checked = StationConfig.model_validate(data)
    assert checked.cavities is not None
    return list(checked.cavities)


def cavities_block(layout: Sequence[tuple[int, RoiXywh]]) -> str:
    rows = "".join(f"  - {{id: {c}, roi: [{x}, {y}, {w}, {h}]}}\n" for c, (x, y, w, h) in sorted(layout))
    return "cavities:\n" + rows


def replace_block(text: str, key: str, block: str) -> str:
    """`text` with its top-level `key:` block (up to the next top-level key) replaced by `block`, or
    `block` appended when there is none."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{re.escape(key)}\s*:", line)), None)
    if start is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + block
    end = next((j for j in range(start + 1, len(lines)) if _TOP_KEY.match(lines[j])), len(lines))
    return "".join(lines[:start]) + block + "".join(lines[end:])


def write_config(path: Path, text: str) -> Path:
    """Validate `text` as station.yaml (ConfigError if it is not), keep the current file as
    `<name>.bak`, then replace it atomically (temp file in the same folder, fsync, rename)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        load_config(tmp)  # the same model and messages as at start; relative paths resolve alike
        backup = path.with_name(path.name + ".bak")
        if path.exists():
            shutil.copy2(path, backup)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return backup


def save_layout(path: Path, layout: Sequence[tuple[int, RoiXywh]]) -> Path:
    """station.yaml at `path` with these cavities; returns the backup's path."""
    text = path.read_text(encoding="utf-8")
    yaml.safe_load(text)  # a file someone broke by hand since the start is refused here, not clobbered
    return write_config(path, replace_block(text, "cavities", cavities_block(layout)))


def validation_messages(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()]
