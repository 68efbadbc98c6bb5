"""Fixtures of the teach tests: the new mold's data, made once per session (see teach_parts.py)."""

from tests.edge.teach.teach_parts import bezel_clip, bezel_model, bezel_train  # noqa: F401
