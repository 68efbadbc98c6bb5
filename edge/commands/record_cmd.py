"""`moldpilot record -c station.yaml --out FILE.avi [--seconds S]`: footage of the configured camera
with a timeline of the triggers it received, for `moldpilot replay FILE.avi` later (edge/record.py).

Triggers: in triggered mode with a `plc:` section the PLC's triggers are recorded and each is answered
NO_DECISION with ERROR_CODE 7 RECORDING_ONLY (the PLC rejects the part: nothing was judged, and the
PLC must not wait for a verdict that will not come). Without a PLC link, SIGUSR1 and (with
`--stdin-triggers`) stdin lines fire software triggers, as in `moldpilot run`. Free-run mode records
frames only. Stops after `--seconds`, at SIGINT/SIGTERM, or at the end of a file source.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from edge.config import StationConfig, load_config
from edge.pipeline.build import cavities_of, recorded_rois
from edge.record import Recorder
from edge.sinks.plc import open_trigger_link
from edge.sources.factory import open_source
from edge.station import TRIGGER_QUEUE_SIZE
from edge.triggers import SignalTriggers, SoftwareTrigger, StdinTriggers, Trigger, TriggerQueue
from edge.verdict import Decision, ErrorCode
from plc_bridge.link import PlcLink, PlcResult
from sim.timeline import load_timeline


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("record", help="record camera footage and its triggers for later replay")
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="station.yaml")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.avi", help="MJPG video to write")
    parser.add_argument("--seconds", type=float,
                        help="stop after this much footage (default: until Ctrl-C)")
    parser.add_argument("--stdin-triggers", action="store_true",
                        help="without a PLC link: each stdin line fires a trigger "
                             "('', PART_ID or PART_ID SHOT)")
    parser.set_defaults(func=_record)


def _record(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        timeline = record(config, args.out, stop, args.seconds, args.stdin_triggers)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    doc = json.loads(timeline.read_text(encoding="utf-8"))
    print(json.dumps({"video": str(args.out), "timeline": str(timeline), "frames": doc["frame_count"],
                      "triggers": len(doc["shots"])}), flush=True)
    return 0


def record(config: StationConfig, out: Path, stop: threading.Event, seconds: float | None = None,
           stdin_triggers: bool = False) -> Path:
    """Record the configured source until `stop`, `seconds` or its end; returns the timeline path."""
    triggers = TriggerQueue(TRIGGER_QUEUE_SIZE)
    triggered = config.source.mode == "triggered"
    link = open_trigger_link(config, triggers if triggered else None)
    inputs: list[SignalTriggers | StdinTriggers] = []
    if triggered and link is None:
        software = SoftwareTrigger(triggers)
        inputs = [SignalTriggers(software), *([StdinTriggers(software)] if stdin_triggers else [])]
    source = open_source(config.source.kind, config.source.uri,
                         reconnect_max_s=config.source.reconnect_max_s, stop_event=stop)
    # The cavities of station.yaml, else those the source's own recording knows (issue 17 item 10: a
    # file source kept its footage's cavities, not one full-frame cavity).
    timeline = (load_timeline(config.source.uri, config.source.timeline)
                if config.source.kind == "file" else None)
    cavities = [c.roi_xywh for c in cavities_of(config.cavities, recorded_rois(source, timeline))
                if c.roi_xywh is not None] or None
    recorder = Recorder(source, out, triggers, cavities,
                        on_trigger=_answer_recording_only(link, len(cavities or [1])) if link else None)
    try:
        if link is not None:
            link.start()
        for trigger_input in inputs:
            trigger_input.start()
        return recorder.run(stop, seconds)
    finally:
        for trigger_input in inputs:
            trigger_input.close()
        if link is not None:
            link.close()
        source.close()


def _answer_recording_only(link: PlcLink, cavities: int) -> Callable[[Trigger, int], None]:
    """Each recorded PLC trigger gets NO_DECISION / RECORDING_ONLY with every cavity flagged."""

    def answer(trigger: Trigger, _frame_index: int) -> None:
        link.post_result(PlcResult(seq=trigger.seq, part_id=trigger.part_id or 0,
                                   verdict_code=int(Decision.NO_DECISION),
                                   error_code=int(ErrorCode.RECORDING_ONLY),
                                   cavity_ng_mask=(1 << cavities) - 1))

    return answer
