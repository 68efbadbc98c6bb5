"""Host checks: free disk for the NG store, and a clock that can be trusted for timestamps."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import edge
from edge.config import StorageSection
from edge.doctor.result import CheckResult, Status, failed, passed

DISK = "disk (NG store)"
CLOCK = "clock"
BYTES_PER_MB = 1024 * 1024


def check_disk(storage: StorageSection) -> CheckResult:
    """The NG store may grow to quota_mb; the disk must hold what it does not hold yet."""
    ng_dir = Path(storage.ng_dir)
    existing = next(p for p in (ng_dir, *ng_dir.parents) if p.exists())  # "/" always exists
    used_mb = (sum(f.stat().st_size for f in ng_dir.rglob("*") if f.is_file()) / BYTES_PER_MB
               if ng_dir.is_dir() else 0.0)
    free_mb = shutil.disk_usage(existing).free / BYTES_PER_MB
    needed_mb = max(storage.quota_mb - used_mb, 0.0) + storage.min_free_mb  # the reserve stays free
    where = f"{ng_dir} (on the disk of {existing})"
    if free_mb < needed_mb:
        return failed(DISK, f"{where}: {free_mb:.0f} MB free, the store may still grow by {needed_mb:.0f} MB "
                      f"(quota {storage.quota_mb:g} MB + storage.min_free_mb {storage.min_free_mb:g} MB)",
                      "free disk space, move storage.ng_dir to a larger disk, or lower storage.quota_mb")
    return passed(DISK, f"{where}: {free_mb:.0f} MB free for a quota of {storage.quota_mb:g} MB "
                  f"({used_mb:.0f} MB used)")


def check_clock() -> CheckResult:
    """Not before this software's own files (a flat RTC battery restarts the clock in the past), and
    NTP-synchronised if systemd can tell; an unknown sync state is a warning, not a failure."""
    now_s = time.time()
    built_s = max(p.stat().st_mtime for p in Path(edge.__file__).parent.glob("*.py"))
    if now_s < built_s:
        return failed(CLOCK, f"the clock says {_iso(now_s)}, before this software was installed "
                      f"({_iso(built_s)})", "set the time (`sudo timedatectl set-time ...`) and enable NTP "
                      "(`sudo timedatectl set-ntp true`); check the RTC battery")
    synced = _ntp_synchronized()
    if synced is True:
        return passed(CLOCK, f"{_iso(now_s)}, NTP-synchronised")
    fix = "enable NTP (`sudo timedatectl set-ntp true`) and point it at a reachable server (chrony/timesyncd)"
    state = "not NTP-synchronised" if synced is False else "NTP state unknown (timedatectl gave no answer)"
    return CheckResult(CLOCK, Status.WARN, f"{_iso(now_s)}, {state}", fix)


def _ntp_synchronized() -> bool | None:
    try:
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                             text=True, timeout=5.0, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value) if out.returncode == 0 else None


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).isoformat(timespec="seconds")
