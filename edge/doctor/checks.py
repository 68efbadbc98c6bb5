"""All doctor checks, in the order a station meets them, each independent of the others.

A check runs when the config sections it needs are valid, else it is SKIPped with the reason; the PLC
heartbeat also needs a usable serial port. A check that crashes (a bug, not a finding) is reported as a
FAIL of its own and the others still run: one broken thing never hides the rest.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from edge.doctor.broker import NAME as BROKER
from edge.doctor.broker import check_broker
from edge.doctor.camera import NAME as CAMERA
from edge.doctor.camera import check_camera
from edge.doctor.config_view import ConfigView, read_config
from edge.doctor.health import NAME as HEALTH
from edge.doctor.health import check_health
from edge.doctor.host import DISK, check_clock, check_disk
from edge.doctor.model import NAME as MODEL
from edge.doctor.model import RECIPES_NAME, check_model, check_recipe_models
from edge.doctor.plc import NAME as PLC
from edge.doctor.plc import check_plc
from edge.doctor.result import CheckResult, Status, failed, skipped
from edge.doctor.serial_port import NAME as SERIAL
from edge.doctor.serial_port import check_serial_port

log = logging.getLogger(__name__)

# (check name, config section it needs, the check)
SECTION_CHECKS: tuple[tuple[str, str, Callable[..., CheckResult]], ...] = (
    (CAMERA, "source", check_camera),
    (SERIAL, "plc", check_serial_port),
    (PLC, "plc", check_plc),
    (BROKER, "mqtt", check_broker),
    (MODEL, "model", check_model),
    (DISK, "storage", check_disk),
    (HEALTH, "health", check_health),
)


def run_checks(config_path: str | Path,
               report: Callable[[CheckResult], None] = lambda _: None) -> list[CheckResult]:
    """Every check's result, in order; `report` sees each one as soon as it is known (a live table)."""
    results: list[CheckResult] = []

    def done(result: CheckResult) -> None:
        results.append(result)
        report(result)

    view, config_result = read_config(Path(config_path))
    done(config_result)
    for name, section, check in SECTION_CHECKS:
        if name == CAMERA:  # the ROIs are checked against the frames the camera check reads
            check = functools.partial(check_camera, cavities=view.get("cavities"))
        if name == HEALTH:  # the reference is compared with what the camera shows now
            check = functools.partial(check_health, source=view.get("source"))
        done(_one(name, section, check, view, results))
        if name == MODEL and any(r.model for r in (view.get("recipes") or {}).values()):
            done(_one(RECIPES_NAME, "model", lambda model: check_recipe_models(view.get("recipes"), model),
                      view, results))
    done(_guarded("clock", check_clock))
    return results


def _one(name: str, section: str, check: Callable[..., CheckResult], view: ConfigView,
         earlier: list[CheckResult]) -> CheckResult:
    value = view.get(section)
    if value is None:
        return skipped(name, view.why_missing(section))
    if name == PLC:
        port = next(r for r in earlier if r.name == SERIAL)
        if port.status is Status.FAIL:
            return skipped(name, "needs the serial port (see above)")
    return _guarded(name, lambda: check(value))


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    try:
        return check()
    except Exception as exc:
        log.exception("doctor check %r crashed", name)
        return failed(name, f"the check itself failed: {type(exc).__name__}: {exc}",
                      "this is a bug in moldpilot: please report it with the log above")
