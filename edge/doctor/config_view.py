"""The config as the doctor reads it: the whole file if valid, else every section that is valid alone.

`moldpilot run` refuses a config with any mistake (see edge/config.py). The doctor must go on: a typo in
`mqtt:` says nothing about the camera, so each section is validated on its own (with the same models and
the same relative-path rule) and a check runs when the sections it needs are valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from edge.config import StationConfig, load_config
from edge.doctor.result import CheckResult, failed, passed
from edge.errors import ConfigError

NAME = "config"


@dataclass
class ConfigView:
    path: Path
    sections: dict[str, Any] = field(default_factory=dict)  # section name -> validated value
    broken: set[str] = field(default_factory=set)  # sections present but invalid (or the whole file)

    def get(self, name: str) -> Any:
        """The validated section, or None when it is absent or broken (see `why_missing`)."""
        return self.sections.get(name)

    def why_missing(self, name: str) -> str:
        if name in self.broken:
            return f"section '{name}:' is invalid (see the config check)"
        return f"no '{name}:' section in {self.path.name}"


def read_config(path: Path) -> tuple[ConfigView, CheckResult]:
    try:
        config = load_config(path)
    except ConfigError as exc:
        return _partial(path), failed(NAME, str(exc), f"correct the key(s) named above in {path}, then run "
                                      f"'moldpilot config check -c {path}'")
    view = ConfigView(path, {name: getattr(config, name) for name in StationConfig.model_fields})
    station = config.station
    return view, passed(NAME, f"{path} is valid (station {station.site}/{station.line}/{station.name})")


def _partial(path: Path) -> ConfigView:
    view = ConfigView(path, broken={*StationConfig.model_fields})
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return view  # nothing is readable: every section counts as broken
    if not isinstance(data, dict):
        return view
    view.broken = set()
    context = {"base_dir": path.resolve().parent}
    for name, spec in StationConfig.model_fields.items():
        if name not in data:
            continue
        try:
            view.sections[name] = TypeAdapter(spec.annotation).validate_python(data[name], context=context)
        except ValidationError:
            view.broken.add(name)
    return view
