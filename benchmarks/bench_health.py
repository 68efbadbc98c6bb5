"""Health watch on simulator footage: detection delay per fault kind and severity, and false alarms.

    .venv/bin/python benchmarks/bench_health.py [--recordings 20] [--shots 100] [--fault-seeds 3]
                                                [--cell-px 96] [--json]

For each fault kind and severity, `--fault-seeds` recordings with the fault from shot 14 to 21 (the
reference is taken on shots 1-10): how many were detected as the right condition, the detection delay
in shots (1 = raised on the fault's first shot; issue 20 asks <= 5, goal 2), how many shots after the
fault it cleared, and any other condition raised meanwhile. Then `--recordings` fault-free recordings
of `--shots` shots (fresh seeds, the simulator's lamp drift and pose jitter): every raised condition is
a false alarm. Real footage files (MJPG .avi through the footage writer, read back with OpenCV), the
same HealthMonitor the watch thread runs, on the test line (4 cavities, 2 s cycle; `--cell-px 160` for
the footage command's default nest size). Not a test: it takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.health_runs, run from anywhere

from sim.faults import FAULT_KINDS, Fault
from tests.health_runs import EXPECTED, REFERENCE_SHOTS, render, watch_footage

SEVERITIES = {
    "camera-shift": (2.0, 4.0, 8.0, 12.0, 24.0),
    "camera-rotate": (0.5, 1.0, 2.0, 4.0),
    "blocked": (0.1, 0.2, 0.3, 0.5),
    "dirty-lens": (0.3, 0.45, 0.6, 0.8),
    "blur": (1.0, 1.5, 2.5, 4.0),
    "lighting": (0.15, 0.25, 0.4, 0.6),
    "colour-cast": (0.1, 0.2, 0.3, 0.5),
    "mold-change": (0.3, 1.0),
}
FAULT_FIRST, FAULT_LAST, FAULT_SHOTS = REFERENCE_SHOTS + 4, REFERENCE_SHOTS + 11, REFERENCE_SHOTS + 18


def fault_case(args: tuple[str, float, int, int]) -> dict[str, object]:
    kind, severity, seed, cell_px = args
    fault = Fault(kind, FAULT_FIRST, FAULT_LAST, severity)
    with tempfile.TemporaryDirectory() as tmp:
        run = watch_footage(render(Path(tmp) / "f.avi", seed, FAULT_SHOTS, [fault], cell_px=cell_px))
    expected = EXPECTED[kind]
    return {"kind": kind, "severity": severity, "seed": seed,
            "delay_shots": run.delay_shots(fault, expected),
            "cleared_shots": run.cleared_shots(fault, expected),
            "others": sorted(c.name for c in run.raised_during(fault) - {expected}),
            "false_alarms": len(run.false_alarms())}


def clean_case(args: tuple[int, int, int]) -> dict[str, object]:
    seed, shots, cell_px = args
    with tempfile.TemporaryDirectory() as tmp:
        run = watch_footage(render(Path(tmp) / "c.avi", seed, shots, cell_px=cell_px))
    return {"seed": seed, "raised": [e.condition.name for e in run.new_events()],
            "judge_ms_per_frame": run.judge_ms_per_frame}


def summarise(cases: list[dict[str, object]]) -> list[dict[str, object]]:
    rows = []
    for kind in FAULT_KINDS:
        for severity in SEVERITIES[kind]:
            mine = [c for c in cases if c["kind"] == kind and c["severity"] == severity]
            delays = [c["delay_shots"] for c in mine if c["delay_shots"] is not None]
            cleared = [c["cleared_shots"] for c in mine if c["cleared_shots"] is not None]
            rows.append({
                "kind": kind, "severity": severity, "condition": EXPECTED[kind].name,
                "detected": f"{len(delays)}/{len(mine)}",
                "delay_median": statistics.median(delays) if delays else None,
                "delay_max": max(delays) if delays else None,
                "cleared_max": max(cleared) if cleared else None,
                "others": ",".join(sorted({o for c in mine for o in c["others"]})) or "-",
            })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=20, help="fault-free recordings (default 20)")
    parser.add_argument("--shots", type=int, default=100, help="shots per fault-free recording (default 100)")
    parser.add_argument("--fault-seeds", type=int, default=3, help="recordings per fault and severity")
    parser.add_argument("--cell-px", type=int, default=96, help="nest size in px (default 96)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()
    fault_jobs = [(kind, severity, 7000 + i, args.cell_px)
                  for kind in FAULT_KINDS for severity in SEVERITIES[kind] for i in range(args.fault_seeds)]
    clean_jobs = [(9000 + i, args.shots, args.cell_px) for i in range(args.recordings)]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = summarise(list(pool.map(fault_case, fault_jobs)))
        clean = list(pool.map(clean_case, clean_jobs))
    alarms = Counter(name for c in clean for name in c["raised"])
    judge_ms = statistics.median(c["judge_ms_per_frame"] for c in clean)
    if args.json:
        print(json.dumps({"faults": rows, "fault_free": {"recordings": len(clean), "shots": args.shots,
                                                          "false_alarms": dict(alarms)},
                          "judge_ms_per_frame": round(judge_ms, 2)}, indent=1))
        return 0
    print(f"{args.cell_px} px nests; fault from shot {FAULT_FIRST} to {FAULT_LAST}, reference on shots "
          f"1-{REFERENCE_SHOTS}, "
          f"{args.fault_seeds} recording(s) each; delay in shots (1 = raised on the fault's first shot)\n")
    print(f"{'fault':14} {'severity':>8} {'condition':13} {'detected':>8} {'delay med':>9} {'delay max':>9} "
          f"{'cleared max':>11}  others raised")
    for r in rows:
        print(f"{r['kind']:14} {r['severity']:8g} {r['condition']:13} {r['detected']:>8} "
              f"{_shots(r['delay_median']):>9} {_shots(r['delay_max']):>9} {_shots(r['cleared_max']):>11}  "
              f"{r['others']}")
    total = sum(alarms.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(alarms.items())) or "none"
    print(f"\nfault-free: {len(clean)} recordings x {args.shots} shots "
          f"({len(clean) * (args.shots - REFERENCE_SHOTS)} judged shots): {total} false alarms ({detail})")
    print(f"monitor time per sampled frame: {judge_ms:.1f} ms median, wall clock (on the watch thread, not "
          f"the inference path; {args.cell_px} px nests)")
    return 0


def _shots(value: object) -> str:
    return "-" if value is None else f"{value:g}"


if __name__ == "__main__":
    raise SystemExit(main())
