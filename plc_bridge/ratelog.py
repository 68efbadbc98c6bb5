"""Log a repeating failure without flooding the journal: the 1st occurrence and every 100th after."""

LOG_EVERY_N = 100


def worth_logging(count: int) -> bool:
    """True for the 1st, 100th, 200th, ... occurrence (count is 1-based)."""
    return count == 1 or count % LOG_EVERY_N == 0
