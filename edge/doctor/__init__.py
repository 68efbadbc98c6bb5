"""`moldpilot doctor`: checks of a station's setup, one module per check group (see checks.py)."""

from edge.doctor.checks import run_checks
from edge.doctor.result import CheckResult, Status

__all__ = ["CheckResult", "Status", "run_checks"]
