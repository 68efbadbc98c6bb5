"""Two small charts drawn with OpenCV into PNG files: a histogram and a multi-series line chart.

The edge install stays lean (no matplotlib), and a report only needs legible axes, ticks, labels and
a legend. Both charts share `_Axes`, which owns the canvas, the data-to-pixel mapping and the frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

SIZE_WH = (720, 360)
MARGIN = {"left": 72, "right": 24, "top": 44, "bottom": 56}
FONT = cv2.FONT_HERSHEY_SIMPLEX
INK = (40, 40, 40)
GRID = (225, 225, 225)
# Tableau-10 in BGR: distinct for the usual 1-8 cavities, readable on white.
PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
           (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 x 10^k) from at or below `lo` to at or above `hi`."""
    if hi <= lo:
        hi = lo + 1.0
    raw_step = (hi - lo) / max(max_ticks - 1, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}"


def _text(canvas: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45,
          colour: tuple[int, int, int] = INK, anchor: str = "left") -> None:
    """Text whose baseline starts at `org`; anchor "center"/"right" shifts it left by half/all its width."""
    width = cv2.getTextSize(text, FONT, scale, 1)[0][0]
    shift = {"left": 0, "center": width // 2, "right": width}[anchor]
    cv2.putText(canvas, text, (org[0] - shift, org[1]), FONT, scale, colour, 1, cv2.LINE_AA)


class _Axes:
    """A white canvas with a titled, labelled, gridded frame for data in `x_ticks` x `y_ticks`."""

    def __init__(self, title: str, x_label: str, y_label: str,
                 x_ticks: Sequence[float], y_ticks: Sequence[float]) -> None:
        width, height = SIZE_WH
        self.canvas = np.full((height, width, 3), 255, np.uint8)
        self.left, self.top = MARGIN["left"], MARGIN["top"]
        self.right, self.bottom = width - MARGIN["right"], height - MARGIN["bottom"]
        self.x_range = (x_ticks[0], x_ticks[-1])
        self.y_range = (y_ticks[0], y_ticks[-1])
        for x in x_ticks:
            px = self.px(x, self.y_range[0])[0]
            cv2.line(self.canvas, (px, self.top), (px, self.bottom), GRID, 1)
            _text(self.canvas, _label(x), (px, self.bottom + 18), anchor="center")
        for y in y_ticks:
            py = self.px(self.x_range[0], y)[1]
            cv2.line(self.canvas, (self.left, py), (self.right, py), GRID, 1)
            _text(self.canvas, _label(y), (self.left - 6, py + 5), anchor="right")
        cv2.rectangle(self.canvas, (self.left, self.top), (self.right, self.bottom), INK, 1)
        _text(self.canvas, title, (width // 2, 28), scale=0.6, anchor="center")
        _text(self.canvas, x_label, ((self.left + self.right) // 2, height - 14), anchor="center")
        self._vertical_label(y_label)

    def px(self, x: float, y: float) -> tuple[int, int]:
        fx = (x - self.x_range[0]) / (self.x_range[1] - self.x_range[0])
        fy = (y - self.y_range[0]) / (self.y_range[1] - self.y_range[0])
        return (round(self.left + fx * (self.right - self.left)),
                round(self.bottom - fy * (self.bottom - self.top)))

    def _vertical_label(self, text: str) -> None:
        # OpenCV cannot draw rotated text: draw it flat on a strip, rotate the strip, paste it.
        (text_w, text_h), baseline = cv2.getTextSize(text, FONT, 0.45, 1)
        strip = np.full((text_h + baseline + 4, text_w + 4, 3), 255, np.uint8)
        _text(strip, text, (2, text_h + 2))
        strip = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
        y0 = max((self.top + self.bottom - strip.shape[0]) // 2, 0)
        strip = strip[: self.canvas.shape[0] - y0]
        self.canvas[y0 : y0 + strip.shape[0], 6 : 6 + strip.shape[1]] = strip

    def save(self, path: Path) -> Path:
        if not cv2.imwrite(str(path), self.canvas):
            raise OSError(f"could not write chart {path}")
        return path


def _no_data(path: Path, title: str) -> Path:
    axes = _Axes(title, "", "", [0, 1], [0, 1])
    _text(axes.canvas, "no data", (SIZE_WH[0] // 2, SIZE_WH[1] // 2), scale=0.7, anchor="center")
    return axes.save(path)


def histogram(values: Sequence[float], path: Path, *, title: str, x_label: str, bins: int = 30,
              markers: dict[str, float] | None = None) -> Path:
    """Bar histogram of `values` with optional labelled vertical markers (e.g. {"p99": 4.2})."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return _no_data(path, title)
    x_ticks = nice_ticks(float(data.min()), float(data.max()))
    counts, edges = np.histogram(data, bins=bins, range=(x_ticks[0], x_ticks[-1]))
    y_ticks = nice_ticks(0, max(int(counts.max()), 1))
    if y_ticks[1] - y_ticks[0] < 1:  # counts are whole numbers: no 0.2-part ticks
        y_ticks = list(range(int(y_ticks[-1]) + 1))
    axes = _Axes(title, x_label, "count", x_ticks, y_ticks)
    for count, lo, hi in zip(counts, edges[:-1], edges[1:], strict=True):
        if count:
            cv2.rectangle(axes.canvas, axes.px(lo, count), axes.px(hi, 0), PALETTE[0], -1)
            cv2.rectangle(axes.canvas, axes.px(lo, count), axes.px(hi, 0), (255, 255, 255), 1)
    for i, (name, value) in enumerate((markers or {}).items()):
        colour = PALETTE[(i + 1) % len(PALETTE)]
        x = axes.px(value, 0)[0]
        cv2.line(axes.canvas, (x, axes.top), (x, axes.bottom), colour, 2)
        # Stagger the marker labels downwards so close markers (p50 next to p90) do not overlap.
        label = f"{name} {value:.3g}"
        (label_w, label_h), _ = cv2.getTextSize(label, FONT, 0.45, 1)
        org = (marker_label_x(x, label_w, axes.right), axes.top + 18 + 18 * i)
        cv2.rectangle(axes.canvas, (org[0] - 2, org[1] - label_h - 3), (org[0] + label_w + 2, org[1] + 4),
                      (255, 255, 255), -1)
        _text(axes.canvas, label, org, colour=colour)
    return axes.save(path)


def marker_label_x(line_x: int, label_w: int, right: int) -> int:
    """Left edge of a marker's label: right of its line, or left of it when it would cross the frame's
    right edge (a p99 at the maximum value sits on that edge and its label was cut off)."""
    return line_x + 4 if line_x + 4 + label_w + 2 <= right else line_x - 4 - label_w


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], path: Path, *, title: str,
               x_label: str, y_label: str, y_min_span: float = 1.0) -> Path:
    """One polyline per named series (xs, ys), a legend in the top-right corner.

    The y axis starts at 0 and spans at least `y_min_span`, so a flat low rate is not blown up
    to fill the chart.
    """
    points = [(np.asarray(xs, float), np.asarray(ys, float)) for xs, ys in series.values()]
    if not points or all(xs.size == 0 for xs, _ in points):
        return _no_data(path, title)
    x_all = np.concatenate([xs for xs, _ in points])
    y_max = max(float(np.concatenate([ys for _, ys in points]).max()), y_min_span)
    axes = _Axes(title, x_label, y_label, nice_ticks(float(x_all.min()), float(x_all.max()), 8),
                 nice_ticks(0.0, y_max))
    for i, (xs, ys) in enumerate(points):
        poly = np.array([axes.px(x, y) for x, y in zip(xs, ys, strict=True)], np.int32)
        cv2.polylines(axes.canvas, [poly], False, PALETTE[i % len(PALETTE)], 2, cv2.LINE_AA)
    _legend(axes, list(series))
    return axes.save(path)


def _legend(axes: _Axes, names: list[str]) -> None:
    row_h = 18
    width = 34 + max(cv2.getTextSize(n, FONT, 0.45, 1)[0][0] for n in names)
    x0, y0 = axes.right - width - 8, axes.top + 8
    cv2.rectangle(axes.canvas, (x0, y0), (x0 + width, y0 + row_h * len(names) + 6), (255, 255, 255), -1)
    cv2.rectangle(axes.canvas, (x0, y0), (x0 + width, y0 + row_h * len(names) + 6), GRID, 1)
    for i, name in enumerate(names):
        y = y0 + 14 + row_h * i
        cv2.line(axes.canvas, (x0 + 6, y - 4), (x0 + 26, y - 4), PALETTE[i % len(PALETTE)], 3)
        _text(axes.canvas, name, (x0 + 30, y))
