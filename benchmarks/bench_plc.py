"""PLC link latency: trigger sent by the PLC -> result visible to the PLC, over a pty cable paced to a
real serial line (115200 baud 8N1 by default), with a verdict producer that answers at once, so the
number is the link's own cost (wire time + polling + the runtime's handling), not the model's.

    .venv/bin/python benchmarks/bench_plc.py [--shots 500] [--baudrate 115200] [--protocol both]

Modbus RTU: the virtual PLC writes HR 0-5 (FC16), then reads HR 100-113 (FC3) back to back until
RESULT_VALID shows its TRIG_SEQ. ASCII: TRG frame out, ACK back, RES frame in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from plc_bridge.ascii.link import AsciiLink, AsciiSettings
from plc_bridge.link import PlcResult
from plc_bridge.modbus.register_bank import RegisterBank
from plc_bridge.modbus.server import ModbusServer, ModbusSettings
from sim.pty_pair import PtyCable
from sim.virtual_plc.ascii_master import VirtualAsciiPlc
from sim.virtual_plc.modbus_master import VirtualModbusPlc
from sim.virtual_plc.record import ShotRecord, synthetic_plan


class InstantProducer:
    """Answers each trigger on the spot (OK), like a pipeline with a zero-time model."""

    def __init__(self) -> None:
        self.link: ModbusServer | AsciiLink | None = None

    def on_trigger(self, seq: int, part_id: int, shot: int | None, recipe_id: int | None) -> None:
        assert self.link is not None
        self.link.post_result(PlcResult(seq, part_id, 1, score_milli=12))


def bench(protocol: str, shots: int, baudrate: int | None, tty_dir: Path) -> list[ShotRecord]:
    producer = InstantProducer()
    with PtyCable(tty_dir, baudrate) as cable:
        link: ModbusServer | AsciiLink
        if protocol == "ascii":
            link = AsciiLink(AsciiSettings(str(cable.runtime_path)), producer.on_trigger)
        else:
            bank = RegisterBank(producer.on_trigger)
            link = ModbusServer(ModbusSettings(port=str(cable.runtime_path)), bank)
        producer.link = link
        link.start()
        try:
            plan = synthetic_plan(shots)
            if protocol == "ascii":
                with VirtualAsciiPlc(str(cable.plc_path)) as ascii_plc:
                    return ascii_plc.run(plan)
            with VirtualModbusPlc(str(cable.plc_path)) as modbus_plc:
                return modbus_plc.run(plan)
        finally:
            link.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=500)
    parser.add_argument("--baudrate", type=int, default=115200, help="0 = unpaced pty")
    parser.add_argument("--protocol", choices=["modbus-rtu", "ascii", "both"], default="both")
    args = parser.parse_args()
    protocols = ["modbus-rtu", "ascii"] if args.protocol == "both" else [args.protocol]
    ok = True
    for protocol in protocols:
        with tempfile.TemporaryDirectory() as tmp:
            records = bench(protocol, args.shots, args.baudrate or None, Path(tmp))
        latencies = [r.latency_ms for r in records if r.arrived]
        q = statistics.quantiles(latencies, n=100)
        ok &= len(latencies) == args.shots and all(r.echo_part_id == r.part_id for r in records)
        print(json.dumps({"protocol": protocol, "baudrate": args.baudrate, "shots": args.shots,
                          "arrived": len(latencies), "trigger_to_result_ms_p50": round(q[49], 2),
                          "p99": round(q[98], 2), "max": round(max(latencies), 2)}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
