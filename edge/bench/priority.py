"""The station's CPU priority in the console stage: as deploy/moldpilot.service runs it.

The console is watched from a browser on the edge PC itself as well as from other screens, so the
shipped unit starts the station at STATION_NICE: a browser, a desktop or an update on the same PC
yields its cores to the line. The console stage measures the station as it is deployed, so it runs
the station at that priority too, when it may: lowering a nice value needs root (systemd does it for
the unit before it drops to user moldpilot). The browsers run at nice 19 whatever the bench's own.

Linux keeps a nice value per thread, and a new thread or process takes its creator's: set on the
bench's thread before the stage starts its replays and stations, it holds for all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

STATION_NICE = -10  # deploy/moldpilot.service: Nice= (a test keeps the two equal)


@contextmanager
def station_priority(nice: int = STATION_NICE) -> Iterator[int]:
    """Run the block at `nice` when this process may lower its nice value; yields the value in effect."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        yield before
        return
    try:
        yield nice
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)  # raising it back needs no privilege
