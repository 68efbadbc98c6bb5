"""MoldPilot edge runtime: sources, model runner, verdicts, sinks and the `moldpilot` CLI."""

__version__ = "0.1.0"
