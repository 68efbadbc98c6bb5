"""The PLC link in the station: verdicts out through a sink, triggers in through the TriggerQueue.

plc_bridge knows nothing of edge (plain callbacks and `PlcResult`); this module is the adapter:

- `PlcSink` folds the verdicts of one trigger (one per cavity) into one `PlcResult`: the shot's
  verdict is the worst of its cavities (NO_DECISION > NG > OK, so the PLC is fail-safe), the defect
  class and score are those of the highest-scoring cavity, CAVITY_NG_MASK has bit n set when cavity
  n+1 is NG or NO_DECISION, CYCLE_MS is the slowest cavity's trigger-to-verdict time. DEFECT_CLASS is
  the index of the defect in the class names of the model that judged the shot (its recipe's).
- `open_link` builds the configured link (not started), calling `on_trigger` for each PLC trigger
  (edge/station.py hands it the station's TriggerQueue).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from edge.config import PlcSection, StationConfig
from edge.errors import ConfigError
from edge.plc_settings import modbus_settings
from edge.triggers import Trigger, TriggerQueue
from edge.verdict import Decision, ErrorCode, Verdict
from plc_bridge.ascii.link import AsciiLink, AsciiSettings
from plc_bridge.link import FaultCallback, PlcLink, PlcResult, TriggerCallback
from plc_bridge.modbus.register_bank import RegisterBank
from plc_bridge.modbus.server import ModbusServer

log = logging.getLogger(__name__)

SEVERITY = {Decision.OK: 0, Decision.NG: 1, Decision.NO_DECISION: 2}


def fold(verdicts: Sequence[Verdict], class_names: Sequence[str]) -> PlcResult:
    """One trigger's verdicts (all cavities) as the PLC's one result block."""
    first = verdicts[0]
    worst = max(verdicts, key=lambda v: SEVERITY[v.decision])
    top = max(verdicts, key=lambda v: -1.0 if v.score is None else v.score)
    error = next((v.error_code for v in verdicts if v.error_code is not ErrorCode.NONE), ErrorCode.NONE)
    mask = sum(1 << (v.cavity - 1) for v in verdicts if v.decision is not Decision.OK and v.cavity <= 16)
    defect = top.defect if worst.decision is not Decision.OK else None
    return PlcResult(
        seq=first.seq,
        part_id=first.part_id or 0,
        verdict_code=int(worst.decision),
        defect_class_code=class_names.index(defect) if defect in class_names else 0,
        score_milli=round((top.score or 0.0) * 1000),
        error_code=int(error),
        cavity_ng_mask=mask,
        cycle_ms=round(max(v.timings_ms.get("total", 0.0) for v in verdicts)),
    )


class PlcSink:
    wants_evidence = False

    def __init__(self, link: PlcLink, class_names: Mapping[int, Sequence[str]], name: str = "plc") -> None:
        """`class_names`: the model card's class names by RECIPE_ID (0 = the model section)."""
        self.name = name
        self.link = link
        self.class_names = {recipe_id: list(names) for recipe_id, names in class_names.items()}

    def open(self) -> None:
        pass  # the link is started by the station once the pipeline runs

    def write(self, verdicts: Sequence[Verdict]) -> None:
        # An unknown recipe has no model and no defect to name: any list will do.
        names = self.class_names.get(verdicts[0].recipe_id, self.class_names[0])
        self.link.post_result(fold(verdicts, names))

    def close(self) -> None:
        pass  # the link outlives the sink: the station closes it after draining


def open_link(plc: PlcSection, on_trigger: TriggerCallback,
              on_fault: FaultCallback | None = None) -> PlcLink:
    if plc.protocol in ("modbus-rtu", "ascii") and not plc.port:
        raise ConfigError(f"plc.protocol {plc.protocol} needs plc.port (a serial device, e.g. /dev/ttyUSB0)")
    if plc.protocol == "ascii":
        assert plc.port is not None
        settings = AsciiSettings(plc.port, plc.baudrate, plc.heartbeat_s, plc.result_fifo, plc.result_fifo)
        return AsciiLink(settings, on_trigger, on_fault)
    if plc.protocol in ("modbus-rtu", "modbus-tcp"):
        bank = RegisterBank(on_trigger, on_fault, plc.result_fifo, plc.heartbeat_s)
        return ModbusServer(modbus_settings(plc), bank, on_fault)
    raise ConfigError(f"plc.protocol {plc.protocol!r} has no link")


def open_trigger_link(config: StationConfig, triggers: TriggerQueue | None,
                      on_fault: FaultCallback | None = None) -> PlcLink | None:
    """The PLC link of a triggered station with a `plc:` section (not started), submitting into
    `triggers`; None when software triggers (SIGUSR1, stdin) stand in for the PLC."""
    plc = config.plc
    if triggers is None or plc is None or plc.protocol == "none":
        return None

    def on_trigger(seq: int, part_id: int, shot: int | None, recipe_id: int | None) -> None:
        triggers.submit(Trigger(seq=seq, t_trigger_s=time.monotonic(), part_id=part_id, shot=shot,
                                recipe_id=recipe_id))

    return open_link(plc, on_trigger, on_fault)
