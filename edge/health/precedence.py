"""Which camera condition hides which: the one root cause a person needs, not five symptoms of it.

A blocked or fogged view ruins every other picture check (registration finds nothing to align, every
crop looks blurred and like another part); a moved camera puts every cavity crop on the wrong pixels
(sharpness and the part's look change with it); a changed lamp recolours the part; a new mold's parts
have their own sharpness. So while a condition is active on a sample, the checks it hides are not
judged on that sample: their hysteresis neither counts towards raising nor towards clearing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from edge.health.conditions import Condition

HIDES: Mapping[Condition, frozenset[Condition]] = {
    Condition.BLOCKED: frozenset(
        {Condition.CAMERA_MOVED, Condition.BLURRED, Condition.LIGHTING, Condition.MOLD_CHANGED}
    ),
    Condition.CAMERA_MOVED: frozenset({Condition.BLURRED, Condition.MOLD_CHANGED}),
    Condition.LIGHTING: frozenset({Condition.MOLD_CHANGED}),
    Condition.MOLD_CHANGED: frozenset({Condition.BLURRED}),
}


# Hiders before what they hide, so one pass settles it (HIDES has no cycle).
_ORDER = (Condition.BLOCKED, Condition.CAMERA_MOVED, Condition.LIGHTING, Condition.MOLD_CHANGED)


def hidden_by(active: Iterable[Condition]) -> frozenset[Condition]:
    """The conditions not to judge on a sample where the `active` ones are active.

    A condition hidden on this sample hides nothing itself: a "moved" camera under a blocked view is no
    evidence about focus.
    """
    active = frozenset(active)
    hidden: set[Condition] = set()
    for condition in _ORDER:
        if condition in active and condition not in hidden:
            hidden |= HIDES[condition]
    return frozenset(hidden)
