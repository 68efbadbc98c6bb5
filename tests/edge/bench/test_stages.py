"""fresh(): each bench stage in its own spawned interpreter, with its positional and keyword arguments."""

from __future__ import annotations

import os

from edge.bench.stages import fresh


def test_a_fresh_stage_runs_in_another_process_with_its_keyword_arguments() -> None:
    assert fresh(round, 2.567, ndigits=1) == 2.6
    assert fresh(os.getpid) != os.getpid()
