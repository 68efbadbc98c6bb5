"""Console users in station.yaml: `moldpilot console passwd` writes an argon2 hash for a user (only
the file's `console:` block is rewritten; validated, atomic, the previous version kept as .bak)."""

from __future__ import annotations

from pathlib import Path

import yaml

from edge.console.auth import Role, hash_password
from edge.console.layout import replace_block, write_config
from edge.errors import ConfigError

MIN_PASSWORD_CHARS = 8


def password_hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"a console password needs at least {MIN_PASSWORD_CHARS} characters")
    return hash_password(password)


def set_user(path: Path, user: str, role: Role, hashed: str) -> Path:
    """Add or replace `user` under console.users of station.yaml at `path`; returns the backup's path."""
    try:
        text = path.read_text(encoding="utf-8")
        doc = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    console = dict(doc.get("console") or {})
    users = dict(console.get("users") or {})
    users[user] = {"role": role, "password_hash": hashed}
    console["users"] = users
    block = yaml.safe_dump({"console": console}, sort_keys=False, allow_unicode=True)
    return write_config(path, replace_block(text, "console", block))
