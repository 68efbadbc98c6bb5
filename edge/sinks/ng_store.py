"""NG store sink: the image, heatmap overlay and JSON record of every NG / NO_DECISION part, on the
sink's own thread (file writes never touch the inference thread). See edge/ng_store.py for the quota."""

from __future__ import annotations

from collections.abc import Sequence

from edge.config import StorageSection
from edge.disk_reserve import DiskReserve
from edge.ng_store import NgStore
from edge.verdict import Decision, Verdict


class NgStoreSink:
    wants_evidence = True  # the pipeline copies crop + heatmap only for rejected parts, and only for us

    def __init__(self, store: NgStore, name: str = "ng_store") -> None:
        self.store = store
        self.name = name

    def open(self) -> None:
        """The store scanned its folder when it was built; nothing to do."""

    def write(self, verdicts: Sequence[Verdict]) -> int:
        """Returns how many verdicts' evidence was not stored (disk reserve, too large)."""
        skipped = 0
        for verdict in verdicts:
            if verdict.decision is Decision.OK or verdict.evidence is None:
                continue
            evidence = verdict.evidence
            skipped += self.store.save(verdict.to_dict(), evidence.crop_bgr, evidence.heatmap) is None
        return skipped

    def close(self) -> None:
        """Every save is complete when it returns; nothing is buffered."""


def build_ng_store_sink(storage: StorageSection, reserve: DiskReserve | None = None) -> NgStoreSink:
    """The station's NG store sink from `storage:`, sharing the station's disk reserve when given."""
    return NgStoreSink(NgStore(storage.ng_dir, storage.quota_mb, min_free_mb=storage.min_free_mb,
                               reserve=reserve))
