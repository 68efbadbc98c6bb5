"""`moldpilot run -c station.yaml`: the production entry point.

Builds the station (edge/station.py) from the config and runs it until SIGTERM/SIGINT, which
drain: no new triggers are taken, every accepted trigger is judged, the sinks are flushed and closed,
the final counters are printed as JSON on stdout, and the exit code is 0.

Triggers in triggered mode: with a `plc:` section (protocol modbus-rtu, modbus-tcp or ascii) the PLC
link submits into the pipeline's TriggerQueue and gets every verdict back on the same link. Without
one, SIGUSR1 fires one software trigger (`kill -USR1 <pid>`), and with `--stdin-triggers` each line
on stdin fires one (empty, `PART_ID` or `PART_ID SHOT`). Free-run needs no triggers; free-run on a
file or folder ends by itself at the end of the source.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge.config import StationConfig, load_config
from edge.station import Station
from edge.triggers import SignalTriggers, SoftwareTrigger, StdinTriggers

log = logging.getLogger(__name__)

STATUS_EVERY_S = 60.0


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("run", help="run the station from station.yaml until SIGTERM")
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="station.yaml")
    parser.add_argument("--jsonl", metavar="FILE", help="append every verdict to FILE (one JSON per line)")
    parser.add_argument("--stdin-triggers", action="store_true",
                        help="triggered mode: each stdin line fires a trigger ('', PART_ID or PART_ID SHOT)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return run_station(config, Path(args.jsonl) if args.jsonl else None, stdin_triggers=args.stdin_triggers)


def run_station(config: StationConfig, jsonl: Path | None = None, stdin_triggers: bool = False) -> int:
    """Build the station (every model loaded and warmed up before the first trigger), serve until
    SIGTERM/SIGINT or the end of a finite source, drain, print the final counters."""
    station = Station(config, jsonl=jsonl)
    shutdown = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: shutdown.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _serve(station, shutdown, software_inputs(station, stdin_triggers, on_eof=shutdown.set))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def software_inputs(station: Station, stdin_triggers: bool,
                    on_eof: Callable[[], None]) -> list[StdinTriggers | SignalTriggers]:
    """SIGUSR1 (and with `stdin_triggers` each stdin line, until stdin closes: then `on_eof`) fires a
    trigger on a triggered station without a PLC link. With a link the PLC owns the triggers: software
    triggers would answer it results it never asked for."""
    if station.triggers is None or station.link is not None:
        return []
    software = SoftwareTrigger(station.triggers)
    stdin = [StdinTriggers(software, on_eof=on_eof)] if stdin_triggers else []
    return [SignalTriggers(software), *stdin]


def _serve(station: Station, shutdown: threading.Event,
           inputs: list[StdinTriggers | SignalTriggers]) -> int:
    """Run until `shutdown` (or the end of a finite free-run source), then drain and report."""
    config = station.config
    try:
        station.start()
        for trigger_input in inputs:
            trigger_input.start()
        log.info("station %s running: %s source, %s mode, %d cavities", config.station.name,
                 config.source.kind, config.source.mode, len(station.cavities))
        next_status_s = time.monotonic() + STATUS_EVERY_S
        # Wake twice a second: a signal or the end of a finite source ends the wait.
        while not shutdown.wait(0.5) and not station.pipeline.done.is_set():
            if time.monotonic() >= next_status_s:
                next_status_s += STATUS_EVERY_S
                log.info("status %s", json.dumps(_short(station.pipeline.snapshot())))
        log.info("stopping: draining queued triggers and flushing sinks")
    finally:
        for trigger_input in inputs:
            trigger_input.close()
        clean = station.close()  # drains: the last verdicts are posted to the link before it closes
    print(json.dumps(station.snapshot()), flush=True)
    return 0 if clean else 1


def _short(snapshot: dict) -> dict:
    keys = ("frames_in", "frames_judged", "frames_dropped", "triggers", "triggers_rejected", "verdicts",
            "deadline_misses")
    return {k: snapshot[k] for k in keys}
