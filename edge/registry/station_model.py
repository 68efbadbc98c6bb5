"""Which model a station starts with when station.yaml has a `registry:` section: the registry's active
version of recipe 0. An empty registry (a plain install) takes the model section's file as v1,
promoted by "station", so the station just works and the history starts at its first model."""

from __future__ import annotations

import logging
from pathlib import Path

from edge.config import StationConfig
from edge.registry.store import ModelVersion, Registry

log = logging.getLogger(__name__)

STATION = "station"  # `who` of what the station does on its own


def open_registry(config: StationConfig) -> Registry | None:
    section = config.registry
    if section is None:
        return None
    return Registry(Path(section.path), section.trusted_keys)


def starting_version(registry: Registry, config: StationConfig) -> ModelVersion:
    """The active version of recipe 0; with none yet, the model section's file is added and promoted."""
    active = registry.active()
    if active is not None:
        return active
    path = Path(config.model.path)
    entry = registry.add(path, STATION, note=f"station.yaml model.path {path}")
    log.info("registry %s had no active model: %s added as %s and promoted", registry.root, path,
             entry.version)
    return registry.promote(entry.version, STATION)


def with_model(config: StationConfig, model_path: Path) -> StationConfig:
    """The station's settings with recipe 0 judged by `model_path`."""
    return config.model_copy(update={"model": config.model.model_copy(update={"path": str(model_path)})})
