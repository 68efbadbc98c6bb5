"""NG evidence store: image + heatmap overlay + JSON record per rejected part, under a disk quota.

Layout: ``ROOT/YYYY-MM-DD/<stamp>_<part_id>_c<cavity>_<decision>.{png|jpg, overlay.jpg, json}``, e.g.
``var/ng/2025-03-14/20250314T101502123_48211_c2_NG.png``. The three files of one part are an
*evidence set*; sets are created and deleted whole. Stamps sort lexically in time order, so "oldest"
is simply the smallest (day folder, stem) pair and no file metadata is trusted for ordering.

The store deletes only what it wrote: files named as above. Anything else under the root (someone's
``2024-01-01/shift-report.pdf``) is not indexed, not counted against the quota and never deleted.

The disk never fills, for two independent reasons:
- the quota: the store keeps a running total of its own bytes (one scan at start, then it adds and
  subtracts what it writes and deletes; no rescan per save) and deletes the oldest sets *before*
  writing a new one, so even between two saves the total stays under the quota;
- the free-space reserve (edge/disk_reserve.py, storage.min_free_mb, shared with the JSONL and the
  MQTT outbox): if the filesystem would have less than that left after the write (other programs fill
  disks too), the set is not written and `skipped_disk_full` is counted; and when the outbox needs
  room, the store gives up its oldest sets first (`give_up`): evidence goes before results.

`save()` is meant for a sink thread (blocking file I/O is fine there) and is thread-safe.
The record is a plain dict (the Verdict's JSON) so the store does not depend on the Verdict class.
Keys used: ``decision`` (required), ``part_id``, ``cavity``, ``defect``, ``error``, ``score``
(optional; "na" in the file name / left out of the overlay text when missing). The whole dict is
written as the JSON record.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from edge.disk_reserve import NG_STORE, DiskReserve
from plc_bridge.ratelog import worth_logging

log = logging.getLogger(__name__)

BYTES_PER_MB = 1024 * 1024
OVERLAY_ALPHA = 0.4  # weight of the colour map; 0.6 of the part stays visible under it
OVERLAY_SUFFIX = ".overlay.jpg"
JPEG_QUALITY = 90
_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")  # a dot ends the stem, a slash a folder: both are replaced
# The names this store writes (see _stem): stamp, part, cavity, decision, an optional -n, our suffixes.
# Only files named so are indexed, counted in the quota and ever deleted: storage.ng_dir may point at a
# folder that holds other people's files too (a shift report in a day folder).
_OWN_FILE = re.compile(r"^\d{8}T\d{9}_[A-Za-z0-9_-]+_c[A-Za-z0-9-]+_[A-Za-z0-9_-]+"
                       r"\.(png|jpg|overlay\.jpg|json)$")


def overlay(image_bgr: np.ndarray, heatmap: np.ndarray | None, text: str) -> np.ndarray:
    """The part with its defect heatmap blended in and the verdict text written on top.

    `image_bgr` is H x W x 3 uint8 (a gray H x W image is accepted and converted). `heatmap` is a
    coarse float map (e.g. 4x4 or 10x10) with values in [0, 1] (clipped); it is resized to the image
    with bicubic interpolation, colour-mapped with JET and blended with weight 0.4. With no heatmap
    only the text is drawn. `text` may hold several lines separated by "\\n"; each line is scaled
    down to fit the width, on a dark band so it reads on any part. Returns a new H x W x 3 uint8 array.
    """
    base = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR) if image_bgr.ndim == 2 else image_bgr
    if base.ndim != 3 or base.shape[2] != 3 or base.dtype != np.uint8:
        raise ValueError(f"overlay expects an H x W x 3 uint8 image, got {image_bgr.shape} {image_bgr.dtype}")
    height, width = base.shape[:2]
    if heatmap is None:
        out = base.copy()
    else:
        heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
        if heat.ndim != 2:
            raise ValueError(f"heatmap must be 2-D [h, w], got shape {heat.shape}")
        heat = cv2.resize(heat, (width, height), interpolation=cv2.INTER_CUBIC)
        # Bicubic overshoots slightly; clip again before the 8-bit conversion.
        heat_u8 = (np.clip(heat, 0.0, 1.0) * 255.0).astype(np.uint8)
        colour = cv2.applyColorMap(heat_u8, cv2.COLORMAP_JET)
        out = cv2.addWeighted(colour, OVERLAY_ALPHA, base, 1.0 - OVERLAY_ALPHA, 0.0)
    _draw_text(out, text)
    return out


def _draw_text(image: np.ndarray, text: str) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    width = image.shape[1]
    y = 0
    for line in text.splitlines():
        (line_w, line_h), baseline = cv2.getTextSize(line, font, 1.0, 1)
        # Scale 1.0 is ~22 px tall; never larger than 0.6 (big crops) and shrink to fit small ones.
        scale = min(0.6, (width - 6) / max(line_w, 1))
        band_h = int((line_h + baseline) * scale) + 6
        if y + band_h > image.shape[0]:
            break
        image[y : y + band_h] = (image[y : y + band_h] * 0.35).astype(np.uint8)  # darken the band
        org = (3, y + int(line_h * scale) + 3)
        cv2.putText(image, line, org, font, scale, (255, 255, 255), 1, cv2.LINE_AA)
        y += band_h


def verdict_caption(record: dict[str, Any]) -> str:
    """Two lines for the overlay: "NG short_shot" and "score 0.93" (missing keys are left out).

    A NO_DECISION also shows its ``error`` name (e.g. DEADLINE_MISS), the reason it was rejected.
    """
    head = " ".join(str(record[key]) for key in ("decision", "defect", "error")
                    if record.get(key) not in (None, ""))
    score = record.get("score")
    return head if score is None else f"{head}\nscore {float(score):.2f}"


@dataclass
class NgStoreStats:
    saved: int = 0
    deleted: int = 0  # evidence sets deleted to stay under the quota
    bytes_now: int = 0  # bytes of all files in the store
    skipped_disk_full: int = 0  # the write would have broken the free-space reserve
    skipped_too_large: int = 0  # one set alone is larger than the quota
    given_up: int = 0  # sets deleted to make room for the JSONL or the MQTT outbox (counted as lost)


@dataclass
class _EvidenceSet:
    day_dir: Path
    stem: str
    paths: list[Path]
    size_bytes: int


class NgStore:
    """Writes evidence sets under `root_dir`, keeping the store under `quota_mb` (MiB)."""

    def __init__(
        self,
        root_dir: Path | str,
        quota_mb: float,
        *,
        min_free_mb: float = 200.0,
        reserve: DiskReserve | None = None,
        image_format: Literal["png", "jpg"] = "png",
        clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        if quota_mb <= 0:
            raise ValueError(f"quota_mb must be > 0, got {quota_mb}")
        self.root_dir = Path(root_dir)
        self.quota_bytes = int(quota_mb * BYTES_PER_MB)
        # min_free_mb is for a store on its own; a station passes the reserve its other writers share
        self.reserve = reserve or DiskReserve(root_dir, min_free_mb, min_free_mb)
        # PNG keeps the evidence lossless (useful for retraining); JPEG is ~10x smaller.
        self.image_format = image_format
        self._clock = clock
        self._lock = threading.Lock()
        self._stats = NgStoreStats()
        self._sets: deque[_EvidenceSet] = deque()  # oldest first
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self._scan()
        with self._lock:
            self._evict_until_fits(0)  # the quota may have been lowered since the last run
        self.reserve.give_way(NG_STORE, self.give_up)

    def stats(self) -> NgStoreStats:
        with self._lock:
            return NgStoreStats(**asdict(self._stats))

    def save(
        self, record: dict[str, Any], image_bgr: np.ndarray, heatmap: np.ndarray | None
    ) -> Path | None:
        """Store one evidence set; returns the JSON record's path, or None if it was skipped.

        Encoding happens first, in memory, so the exact size is known before anything is deleted
        or written. An OSError while writing removes the partial set and is raised to the caller.
        """
        now = self._clock()
        blobs = self._encode(record, image_bgr, heatmap)
        size_bytes = sum(len(blob) for blob in blobs.values())
        with self._lock:
            if size_bytes > self.quota_bytes:
                self._stats.skipped_too_large += 1
                log.warning("NG evidence set of %d bytes exceeds the quota; not stored", size_bytes)
                return None
            # Checked before evicting: when others have filled the disk, deleting our own evidence
            # would not make room for long, so keep it and skip the new set instead.
            if not self.reserve.allows(NG_STORE, size_bytes):
                floor_mb = self.reserve.min_free_bytes // BYTES_PER_MB
                return self._skip_disk_full(f"less than {floor_mb} MB free")
            self._evict_until_fits(size_bytes)
            try:
                return self._write(now, record, blobs, size_bytes)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return self._skip_disk_full("disk full")

    def _skip_disk_full(self, why: str) -> None:
        """With the lock held: count the set not stored, tell the reserve, log 1st and every 100th."""
        self._stats.skipped_disk_full += 1
        self.reserve.count_lost(NG_STORE, 1)
        if worth_logging(self._stats.skipped_disk_full):  # a full disk stays full: no flood
            log.warning("%s under %s; NG evidence not stored (%d skipped so far)", why, self.root_dir,
                        self._stats.skipped_disk_full)

    def _encode(
        self, record: dict[str, Any], image_bgr: np.ndarray, heatmap: np.ndarray | None
    ) -> dict[str, bytes]:
        jpeg = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        image_ext = "." + self.image_format
        ok_image, image_buf = cv2.imencode(image_ext, image_bgr, jpeg if self.image_format == "jpg" else [])
        overlay_bgr = overlay(image_bgr, heatmap, verdict_caption(record))
        ok_overlay, overlay_buf = cv2.imencode(".jpg", overlay_bgr, jpeg)
        if not (ok_image and ok_overlay):
            raise ValueError(f"could not encode image of shape {image_bgr.shape} for the NG store")
        text = json.dumps(record, indent=2, ensure_ascii=False, default=_json_default)
        return {image_ext: image_buf.tobytes(), OVERLAY_SUFFIX: overlay_buf.tobytes(), ".json": text.encode()}

    def _write(self, now: datetime, record: dict[str, Any], blobs: dict[str, bytes], size_bytes: int) -> Path:
        day_dir = self.root_dir / now.strftime("%Y-%m-%d")
        day_dir.mkdir(exist_ok=True)
        stem = _unique_stem(day_dir, _stem(now, record))
        paths = [day_dir / (stem + suffix) for suffix in blobs]
        try:
            for path, blob in zip(paths, blobs.values(), strict=True):
                path.write_bytes(blob)
        except OSError:
            for path in paths:
                path.unlink(missing_ok=True)
            raise
        self._sets.append(_EvidenceSet(day_dir, stem, paths, size_bytes))
        self._stats.saved += 1
        self._stats.bytes_now += size_bytes
        return paths[-1]  # the JSON record

    def give_up(self, needed_bytes: int) -> int:
        """Delete the oldest sets until needed_bytes are freed (the outbox or JSONL needs the room)."""
        with self._lock:
            before, sets_before = self._stats.bytes_now, len(self._sets)
            while self._sets and before - self._stats.bytes_now < needed_bytes:
                self._delete_oldest()
            given_up = sets_before - len(self._sets)
            self._stats.given_up += given_up
        if given_up:
            self.reserve.count_lost(NG_STORE, given_up)
        return before - self._stats.bytes_now

    def _evict_until_fits(self, incoming_bytes: int) -> None:
        while self._sets and self._stats.bytes_now + incoming_bytes > self.quota_bytes:
            self._delete_oldest()

    def _delete_oldest(self) -> None:
        """With the lock held."""
        victim = self._sets.popleft()
        for path in victim.paths:
            path.unlink(missing_ok=True)  # someone may have cleaned up by hand
        self._stats.bytes_now -= victim.size_bytes
        self._stats.deleted += 1
        if not self._sets or self._sets[0].day_dir != victim.day_dir:
            _remove_if_empty(victim.day_dir)

    def _scan(self) -> None:
        """Index the sets already on disk, oldest first (the only full walk of the store)."""
        for day_dir in sorted(p for p in self.root_dir.iterdir() if p.is_dir() and _DAY_DIR.match(p.name)):
            groups: dict[str, list[Path]] = {}
            for path in day_dir.iterdir():
                if path.is_file() and _OWN_FILE.match(path.name):  # a stranger's file is never ours to delete
                    groups.setdefault(path.name.split(".", 1)[0], []).append(path)
            for stem in sorted(groups):
                paths = groups[stem]
                size_bytes = sum(p.stat().st_size for p in paths)
                self._sets.append(_EvidenceSet(day_dir, stem, paths, size_bytes))
                self._stats.bytes_now += size_bytes
        log.info("NG store %s: %d evidence sets, %.1f MB of %.1f MB quota", self.root_dir, len(self._sets),
                 self._stats.bytes_now / BYTES_PER_MB, self.quota_bytes / BYTES_PER_MB)


def _stem(now: datetime, record: dict[str, Any]) -> str:
    stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}"
    fields = (record.get("part_id"), record.get("cavity"), record.get("decision"))
    part, cavity, decision = (_UNSAFE.sub("-", str(v)) if v is not None else "na" for v in fields)
    return f"{stamp}_{part}_c{cavity}_{decision}"


def _unique_stem(day_dir: Path, stem: str) -> str:
    """Two sets in the same millisecond for the same part (e.g. unknown part ids) get -2, -3, ..."""
    candidate, n = stem, 1
    while (day_dir / (candidate + ".json")).exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _remove_if_empty(day_dir: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (stray files) or already gone: leave it
        day_dir.rmdir()


def _json_default(value: Any) -> Any:
    """numpy scalars/arrays and paths in a record become plain JSON values."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return str(value)
