"""The replay report: a self-contained HTML folder with OpenCV-drawn charts (no matplotlib)."""

from edge.report.html import write_report

__all__ = ["write_report"]
