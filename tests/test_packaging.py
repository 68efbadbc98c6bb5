"""The distribution's metadata builds with current setuptools (no deprecated forms)."""

from __future__ import annotations

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_expression() -> None:
    """setuptools stops building `license = {text = ...}` on 2027-02-18 (issue 17); SPDX needs >= 77."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]
