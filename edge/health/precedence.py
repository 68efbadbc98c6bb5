"""Which camera condition hides which: the one root cause a person needs, not five symptoms of it.

A moved camera puts every tile and every cavity crop on other pixels (a nest edge leaves its tile,
sharpness and the part's look change); it comes first because its figure is confirmed against the
reference (registration.py: the estimated motion must explain the picture), which a cover or a haze
cannot fake. A blocked or fogged view ruins the remaining picture checks (every crop looks blurred and
like another part, the plate's brightness changes); a changed lamp recolours the part; a new mold's
parts have their own sharpness. So while a condition is active on a sample, the checks it hides are
not judged on that sample: their hysteresis neither counts towards raising nor towards clearing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from edge.health.conditions import Condition

HIDES: Mapping[Condition, frozenset[Condition]] = {
    Condition.CAMERA_MOVED: frozenset({Condition.BLOCKED, Condition.BLURRED, Condition.MOLD_CHANGED}),
    Condition.BLOCKED: frozenset({Condition.BLURRED, Condition.LIGHTING, Condition.MOLD_CHANGED}),
    Condition.LIGHTING: frozenset({Condition.MOLD_CHANGED}),
    Condition.MOLD_CHANGED: frozenset({Condition.BLURRED}),
}


# Hiders before what they hide, so one pass settles it (HIDES has no cycle).
_ORDER = (Condition.CAMERA_MOVED, Condition.BLOCKED, Condition.LIGHTING, Condition.MOLD_CHANGED)


def hidden_by(active: Iterable[Condition]) -> frozenset[Condition]:
    """The conditions not to judge on a sample where the `active` ones are active.

    A condition hidden on this sample hides nothing itself: a "blocked" view that is only a knocked
    camera's moved tiles is no evidence about the lamp.
    """
    active = frozenset(active)
    hidden: set[Condition] = set()
    for condition in _ORDER:
        if condition in active and condition not in hidden:
            hidden |= HIDES[condition]
    return frozenset(hidden)
