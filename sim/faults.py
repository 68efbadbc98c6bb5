"""Camera faults a line really has, rendered into footage from a chosen shot on (and until a shot).

A fault is `KIND@SHOT[:END_SHOT][,SEVERITY]` on the command line (shots 1-based, END_SHOT inclusive,
open-ended without it). Kinds and what SEVERITY means (frame pixels, degrees, fractions):

    camera-shift   the camera was knocked sideways: translation in px (default 12)
    camera-rotate  the camera was knocked round its axis: rotation in degrees (default 2)
    blocked        something covers part of the view (a rag, a hand, a spray-painted lens): the share
                   of the view that is covered and dark (default 0.3)
    dirty-lens     a fogged or greasy lens: the strength of the low-contrast haze, 0..1 (default 0.6)
    blur           focus lost: Gaussian blur sigma in px (default 2.5)
    lighting       a lamp dimmed or failed: the share of the light lost (default 0.4)
    colour-cast    a lamp replaced by one of another colour temperature: cast strength (default 0.3)
    mold-change    another mold fitted: >= 0.5 another part type in another resin colour (default 1),
                   below 0.5 the same part type in a new design and the same colour

Every fault acts where it would on a real camera: the lamp on the scene, the knock on the camera pose,
then what sits on the lens (an occluder, haze), then the optics (blur), and only then the sensor
(exposure gain and noise, sim.render.expose), so a fault never removes the sensor noise. A fault's
random parts (direction of a knock, shape of an occluder, the new mold) come from
Generator([seed, 3, fault index]), a stream fault-free footage never draws from, so footage without
faults stays byte-identical to footage rendered before faults existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np

from sim.parts import ALL_SHAPES, SHAPES, PartDesign, Shape, sample_design
from sim.shot import PALETTE_BGR

FaultKind = Literal[
    "camera-shift", "camera-rotate", "blocked", "dirty-lens", "blur", "lighting", "colour-cast", "mold-change"
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
DEFAULT_SEVERITY: Mapping[FaultKind, float] = {
    "camera-shift": 12.0,
    "camera-rotate": 2.0,
    "blocked": 0.3,
    "dirty-lens": 0.6,
    "blur": 2.5,
    "lighting": 0.4,
    "colour-cast": 0.3,
    "mold-change": 1.0,
}
_UNIT_FRACTION_KINDS = ("blocked", "dirty-lens", "lighting", "colour-cast", "mold-change")
FAULT_SYNTAX = "KIND@SHOT[:END_SHOT][,SEVERITY]"
_FAULT_RE = re.compile(r"^(?P<kind>[a-z-]+)@(?P<first>\d+)(?::(?P<last>\d+))?(?:,(?P<severity>[-+.\deE]+))?$")
_OCCLUDER_GREY = 0.05  # a dark rag or sprayed lens: almost no light comes through
_HAZE_VEIL = 0.75  # a fogged lens scatters the lamp's light into a bright veil


@dataclass(frozen=True)
class Fault:
    """One fault's ground truth: what, from which shot to which (1-based, inclusive; None = the end)."""

    kind: FaultKind
    first_shot: int
    last_shot: int | None
    severity: float

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; kinds: {', '.join(FAULT_KINDS)}")
        if self.first_shot < 1:
            raise ValueError(f"a fault starts at shot >= 1, got {self.first_shot}")
        if self.last_shot is not None and self.last_shot < self.first_shot:
            raise ValueError(f"fault {self.kind} ends at shot {self.last_shot}, before it starts "
                             f"({self.first_shot})")
        if not self.severity > 0.0:
            raise ValueError(f"fault {self.kind} needs a severity > 0, got {self.severity}")
        if self.kind in _UNIT_FRACTION_KINDS and self.severity > 1.0:
            raise ValueError(f"fault {self.kind} takes a severity in (0, 1], got {self.severity}")

    def active(self, shot: int) -> bool:
        """True while 1-based `shot` is inside the fault."""
        return self.first_shot <= shot and (self.last_shot is None or shot <= self.last_shot)

    def spec(self) -> str:
        """The fault in the command line's syntax: `KIND@SHOT[:END_SHOT],SEVERITY`."""
        end = f":{self.last_shot}" if self.last_shot is not None else ""
        return f"{self.kind}@{self.first_shot}{end},{self.severity:g}"

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "first_shot": self.first_shot, "last_shot": self.last_shot,
                "severity": self.severity}

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Fault:
        d: dict = dict(doc)
        return cls(d["kind"], d["first_shot"], d["last_shot"], float(d["severity"]))


def parse_fault(text: str) -> Fault:
    """`KIND@SHOT[:END_SHOT][,SEVERITY]`, e.g. camera-shift@40, blur@80:120, lighting@10,0.5."""
    match = _FAULT_RE.match(text.strip())
    if not match:
        raise ValueError(f"expected {FAULT_SYNTAX} such as camera-shift@40 or blur@80:120,3, got {text!r}")
    kind = match["kind"]
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
    severity = float(match["severity"]) if match["severity"] else DEFAULT_SEVERITY[kind]
    last = int(match["last"]) if match["last"] else None
    return Fault(kind, int(match["first"]), last, severity)


@dataclass(frozen=True)
class Mold:
    """What the fixture holds: one design per cavity and the resin colour (BGR 0..1)."""

    designs: tuple[PartDesign, ...]
    color_bgr: tuple[float, float, float]


def changed_mold(mold: Mold, severity: float, rng: np.random.Generator) -> Mold:
    """The mold fitted by a mold-change fault: see the module docstring for what `severity` selects."""
    if severity < 0.5:
        return Mold(tuple(sample_design(d.shape, rng) for d in mold.designs), mold.color_bgr)
    # Another part type per cavity, and a palette colour far from the old one.
    # (A new design, sim.parts.NEW_SHAPES, changes to one of the older shapes.)
    shapes: list[Shape] = [SHAPES[(ALL_SHAPES.index(d.shape) + 1) % len(SHAPES)] for d in mold.designs]
    old = np.asarray(mold.color_bgr)
    far = [c for c in PALETTE_BGR if np.abs(np.asarray(c) - old).max() > 0.3]
    b, g, r = far[int(rng.integers(len(far)))]
    return Mold(tuple(sample_design(s, rng) for s in shapes), (b, g, r))


class CameraFaults:
    """The camera faults of one recording, rendered onto a frame's float canvas shot by shot."""

    def __init__(self, faults: Sequence[Fault], seed: int, frame_wh: tuple[int, int]) -> None:
        self.faults = tuple(faults)
        self._frame_wh = frame_wh
        # Each fault's random parts, drawn once; the mold change is FootagePlan's (it renders parts).
        self._params = [self._draw(f, np.random.default_rng([seed, 3, i])) for i, f in enumerate(faults)]

    def _draw(self, fault: Fault, rng: np.random.Generator) -> np.ndarray | float | None:
        w, h = self._frame_wh
        if fault.kind == "camera-shift":
            return float(rng.uniform(0.0, 2.0 * np.pi))  # direction of the knock
        if fault.kind == "camera-rotate":
            return float(rng.choice([-1.0, 1.0]))  # sense of rotation
        if fault.kind == "blocked":
            return _occluder_mask(w, h, fault.severity, rng)
        if fault.kind == "dirty-lens":
            field = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), 0.15 * max(w, h))
            field = (field - field.min()) / max(1e-6, float(np.ptp(field)))
            return (0.7 + 0.3 * field)[..., None] * np.float32(fault.severity)  # uneven film on the lens
        return None

    def apply(self, canvas: np.ndarray, shot: int) -> np.ndarray:
        """`canvas` (float32 BGR 0..1) as the camera sees it during 1-based `shot` (maybe the same array)."""
        active = [(f, p) for f, p in zip(self.faults, self._params, strict=True) if f.active(shot)]
        for stage in ("scene", "pose", "lens", "optics"):
            for fault, params in active:
                if _STAGE[fault.kind] == stage:
                    canvas = self._render(fault, params, canvas)
        return canvas

    def _render(self, fault: Fault, params: np.ndarray | float | None, canvas: np.ndarray) -> np.ndarray:
        w, h = self._frame_wh
        s = fault.severity
        if fault.kind == "lighting":
            return canvas * np.float32(1.0 - s)
        if fault.kind == "colour-cast":
            return canvas * np.array([1.0 - s / 2, 1.0, 1.0 + s / 2], np.float32)  # warmer lamp: less blue
        if fault.kind in ("camera-shift", "camera-rotate"):
            if fault.kind == "camera-shift":
                move = np.float32([[1, 0, s * np.cos(params)], [0, 1, s * np.sin(params)]])
            else:
                move = cv2.getRotationMatrix2D((w / 2, h / 2), float(params) * s, 1.0)
            # The view beyond the old edge is more of the same plate: mirror it rather than paint it black.
            return cv2.warpAffine(canvas, move, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT101)
        if fault.kind == "blocked":
            mask = params[..., None]
            return canvas * (1.0 - mask) + np.float32(_OCCLUDER_GREY) * mask
        if fault.kind == "dirty-lens":
            hazy = canvas * (1.0 - params) + np.float32(_HAZE_VEIL) * params
            return cv2.GaussianBlur(hazy, (0, 0), 1.0 + 1.5 * s)  # a film also softens the picture
        if fault.kind == "blur":
            return cv2.GaussianBlur(canvas, (0, 0), s)
        return canvas  # mold-change: rendered with the parts, not on the canvas


_STAGE: Mapping[FaultKind, str] = {
    "lighting": "scene", "colour-cast": "scene", "mold-change": "scene",
    "camera-shift": "pose", "camera-rotate": "pose",
    "blocked": "lens", "dirty-lens": "lens",
    "blur": "optics",
}


def _occluder_mask(width_px: int, height_px: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """A soft-edged blob entering from one side of the view and covering about `share` of it; float32 0..1."""
    side = int(rng.integers(4))  # 0 left, 1 top, 2 right, 3 bottom
    yy, xx = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    across, along = (xx, yy) if side in (0, 2) else (yy, xx)
    deep_px, long_px = (width_px, height_px) if side in (0, 2) else (height_px, width_px)
    if side in (2, 3):
        across = deep_px - 1 - across
    # A ragged edge: the covered depth varies along the side around share x depth.
    phase, waves = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 2.5)
    depth = share * deep_px * (1.0 + 0.25 * np.sin(2 * np.pi * waves * along / long_px + phase))
    return cv2.GaussianBlur((across < depth).astype(np.float32), (0, 0), 2.0)
