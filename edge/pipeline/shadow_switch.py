"""Start and stop shadow mode on a running station: a candidate model judges beside the active one
(edge/pipeline/shadow.py) from the next batch on, swapped in by one reference (`Pipeline.swap_shadow`).

The candidate is loaded, checked and warmed up on the caller's thread (the console's), never on an
inference thread; a model that fails to load leaves the running shadow, if any, as it was. Starts and
stops are serialised by a lock the pipeline never takes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.config import ShadowSection
from edge.errors import ConfigError
from edge.pipeline.loop import Pipeline
from edge.pipeline.shadow import LabelOf, Shadow, open_shadow

log = logging.getLogger(__name__)

# The registry's candidate as (model path, version), or None: what the console's start button shadows.
Candidate = Callable[[], tuple[Path, str] | None]


class ShadowSwitch:
    def __init__(self, pipeline: Pipeline, section: ShadowSection | None, label_of: LabelOf | None,
                 candidate: Candidate = lambda: None) -> None:
        """`section`: station.yaml's `shadow:` (None: started from the console with its defaults);
        `label_of(part_id, cavity)`: the operator's labels, for the agreement with them."""
        self.pipeline, self.section, self.label_of = pipeline, section, label_of
        self.candidate = candidate
        self.shadow: Shadow | None = None
        self._lock = threading.Lock()

    def start(self, model_path: str | Path, version: str | None = None) -> None:
        """Load, check and warm up the candidate at `model_path` (a ModelError says what is wrong, and
        the running shadow carries on), then judge beside the active model from the next batch."""
        section = self.section or ShadowSection()
        with self._lock:
            shadow = open_shadow(model_path, version, self.label_of, section.window_parts, section.queue_size)
            shadow.start()
            previous = self.pipeline.swap_shadow(shadow)
            self.shadow = shadow
            if previous is not None:
                previous.close()
        log.info("shadow mode on: %s%s", shadow.name, f" {version}" if version else "")

    def start_candidate(self) -> None:
        """The console's start button: the registry's candidate, else the model of the `shadow:` section."""
        if (candidate := self.candidate()) is not None:
            self.start(*candidate)
            return
        model = self.section.model if self.section is not None else None
        if not model:
            raise ConfigError("no candidate model to shadow: make one on the Teach page (or `moldpilot "
                              "models add`), or set shadow.model in station.yaml")
        self.start(model)

    def stop(self) -> None:
        """No shadow judging from the next batch on; the candidate finishes what was queued."""
        with self._lock:
            previous = self.pipeline.swap_shadow(None)
            self.shadow = None
            if previous is not None:
                previous.close()
                log.info("shadow mode off: %s", previous.name)

    def view(self) -> dict[str, Any] | None:
        shadow = self.shadow
        return shadow.view() if shadow is not None else None

    def close(self, timeout_s: float) -> bool:
        """Join the shadow thread (kept, so the final snapshot still shows what it judged)."""
        shadow = self.shadow
        return shadow.close(timeout_s) if shadow is not None else True
