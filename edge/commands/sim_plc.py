"""`moldpilot sim plc` (the virtual PLC) and `moldpilot sim pty` (a connected pty cable for demos).

    moldpilot sim pty --dir var/tty &          # prints var/tty/runtime and var/tty/plc
    moldpilot run -c station.yaml              # plc.port: var/tty/runtime
    moldpilot sim plc --protocol modbus-rtu --port var/tty/plc --timeline line.avi --out plc.jsonl
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

import serial

from edge.errors import MoldPilotError
from sim.pty_pair import PtyCable
from sim.virtual_plc.ascii_master import VirtualAsciiPlc
from sim.virtual_plc.modbus_master import ModbusMasterError, VirtualModbusPlc
from sim.virtual_plc.record import plan_from_timeline, plc_summary


def add_plc_parsers(sub: argparse._SubParsersAction) -> None:
    plc = sub.add_parser("plc", help="virtual PLC: one trigger per shot of a footage timeline")
    plc.add_argument("--protocol", choices=["modbus-rtu", "ascii"], required=True)
    plc.add_argument("--port", required=True, help="serial device (e.g. the plc end of `sim pty`)")
    plc.add_argument("--timeline", type=Path, required=True, help="footage video or its .timeline.json")
    plc.add_argument("--baudrate", type=int, default=115200)
    plc.add_argument("--unit-id", type=int, default=1, help="Modbus slave id of the runtime")
    plc.add_argument("--result-timeout-s", type=float, default=5.0, help="wait per shot before giving up")
    plc.add_argument("--out", type=Path, help="write one JSON line per shot (what the PLC received)")
    plc.set_defaults(func=run_plc)

    pty = sub.add_parser("pty", help="a pty cable: two serial device paths joined, until Ctrl-C")
    pty.add_argument("--dir", type=Path, required=True, help="folder for the runtime / plc symlinks")
    pty.add_argument("--baudrate", type=int, default=115200, help="pace the bytes like a real line")
    pty.set_defaults(func=run_pty)


def run_plc(args: argparse.Namespace) -> int:
    try:
        plan = plan_from_timeline(args.timeline)
    except (OSError, ValueError, KeyError) as exc:
        raise MoldPilotError(f"cannot read the timeline of {args.timeline}: {exc}") from None
    try:
        if args.protocol == "ascii":
            with VirtualAsciiPlc(args.port, args.baudrate, args.result_timeout_s) as ascii_plc:
                records = ascii_plc.run(plan)
        else:
            with VirtualModbusPlc(args.port, args.baudrate, args.unit_id,
                                  result_timeout_s=args.result_timeout_s) as modbus_plc:
                records = modbus_plc.run(plan)
    except (serial.SerialException, ModbusMasterError) as exc:
        raise MoldPilotError(f"{args.port}: {exc}; is the runtime serving that port?") from None
    if args.out:
        args.out.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records), encoding="utf-8")
    print(json.dumps(plc_summary(records)))
    return 0 if all(r.arrived and r.echo_part_id == r.part_id for r in records) else 1


def run_pty(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with PtyCable(args.dir, args.baudrate or None) as cable:
        print(f"runtime end: {cable.runtime_path}\nPLC end:     {cable.plc_path}", flush=True)
        stop.wait()
    return 0
