"""edge/health stays a leaf the station can wire: numpy, OpenCV, the standard library, edge's leaf
modules (frame, verdict, errors) and itself; nothing from pipeline, sinks, commands or sim."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import edge.health

ALLOWED = {"numpy", "cv2", "edge.frame", "edge.verdict", "edge.errors", "edge.health"}


def test_health_imports_only_leaves() -> None:
    folder = Path(edge.health.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "__future__":
                    continue
                allowed = any(name == a or name.startswith(a + ".") for a in ALLOWED)
                assert allowed, f"{path.name} imports {name}"
