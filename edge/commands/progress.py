"""The progress bar of the long-running verbs (sim dataset/footage, crops)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(total: int, unit: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr when it is a terminal; silent in logs and tests. Yields `update(n)`."""
    with tqdm(total=total, unit=unit, disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
        yield bar.update
