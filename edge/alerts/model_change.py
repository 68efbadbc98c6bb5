"""The alert of a model change on a running station: "model v3 promoted by jun" / "rolled back to v2".

An event, not a condition: one `new` alert, no update and no end (nothing is wrong that could end).
Typed like every alert (edge/alerts/rules.py `Alert`), texts in edge/alerts/texts.py."""

from __future__ import annotations

from edge.alerts.rules import Alert
from edge.alerts.texts import Language, render

CODES = {"promoted": "MODEL_PROMOTED", "rolled_back": "MODEL_ROLLED_BACK"}


def model_changed(action: str, version: str, who: str, language: Language) -> Alert:
    code = CODES[action]
    return Alert("new", code, f"MODEL/{code}/{version}", "info",
                 render(code, False, language, version=version, who=who))
