"""`moldpilot sim dataset|footage`: write simulated training crops or footage of the line.

Argument errors (a count of 0, 3 cavities, a rate of 1.5) are caught by argparse type functions and
exit with code 2 and one error line; what only the library can check (a cavity rate for a cavity the
mold does not have, a non-empty output folder) becomes a MoldPilotError, also one line and exit 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from edge.commands.progress import progress_bar
from edge.commands.sim_plc import add_plc_parsers
from edge.errors import MoldPilotError
from sim.dataset import write_dataset
from sim.defects import DEFECT_NAMES
from sim.faults import DEFAULT_SEVERITY, FAULT_SYNTAX, Fault, parse_fault
from sim.footage import FootageSettings, write_footage
from sim.parts import ALL_SHAPES
from sim.shot import CAVITY_COUNTS
from sim.timeline import timeline_path


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate must be in [0, 1], got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _cavities(text: str) -> int:
    value = _int_at_least(1)(text)
    if value not in CAVITY_COUNTS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(map(str, CAVITY_COUNTS))}, got {value}")
    return value


def _cavity_rate(text: str) -> tuple[int, float]:
    cavity, sep, rate = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected CAVITY:RATE such as 3:0.4, got {text!r}")
    return _int_at_least(1)(cavity), _rate(rate)


def _fault(text: str) -> Fault:
    try:
        return parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_FAULT_HELP = (
    f"render a camera fault ({FAULT_SYNTAX}, repeatable; shots 1-based, END_SHOT inclusive, else to the "
    "end; ground truth goes into the timeline). Kinds and SEVERITY (default): camera-shift px, "
    "camera-rotate degrees, blocked share of the view, dirty-lens haze 0..1, blur sigma px, lighting "
    "share of light lost, colour-cast strength, mold-change >= 0.5 another part type and colour, below "
    "0.5 a new design of the same part ("
    + ", ".join(f"{kind} {severity:g}" for kind, severity in DEFAULT_SEVERITY.items())
    + "). E.g. --fault camera-shift@40 --fault blur@80:120,3"
)


def run_dataset(args: argparse.Namespace) -> int:
    with progress_bar(args.count, "img") as progress:
        try:
            per_class = write_dataset(
                args.out, args.count, args.seed, args.size, args.defect_rate, args.shape, progress, args.mold
            )
        except (FileExistsError, ValueError) as exc:
            raise MoldPilotError(str(exc)) from None
    classes = ", ".join(f"{name} {per_class[name]}" for name in ("ok", *DEFECT_NAMES) if per_class[name])
    print(f"wrote {args.count} crops of {args.size} px to {args.out}/ ({classes}) and {args.out}/labels.csv")
    return 0


def run_footage(args: argparse.Namespace) -> int:
    try:
        settings = FootageSettings(
            shots=args.shots,
            seed=args.seed,
            cavities=args.cavities,
            fps=args.fps,
            cycle_s=args.cycle_s,
            shape=args.shape,
            defect_rate=args.defect_rate,
            cavity_defect_rates=dict(args.cavity_defect_rate),
            faults=tuple(args.fault),
            mold_seed=args.mold_seed,
        )
        frames = settings.shots * round(settings.fps * settings.cycle_s)
        with progress_bar(frames, "frame") as progress:
            timeline = write_footage(args.out, settings, progress)
    except ValueError as exc:
        raise MoldPilotError(str(exc)) from None
    except OSError as exc:
        raise MoldPilotError(f"cannot write {args.out}: {exc}") from None
    ng = sum(c.label == "ng" for s in timeline.shots for c in s.cavities)
    faults = f", faults {' '.join(f.spec() for f in timeline.faults)}" if timeline.faults else ""
    print(
        f"wrote {args.out} ({timeline.frame_count} frames, {args.shots} shots x {args.cavities} cavities "
        f"of {timeline.shape}, {ng} NG parts{faults}) and {timeline_path(args.out)}"
    )
    return 0


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("sim", help="simulated mold line: datasets, footage, virtual PLC")
    sub = parser.add_subparsers(dest="sim_verb", metavar="SIM_VERB", required=True)

    ds = sub.add_parser("dataset", help="single-part crops in class-per-folder layout + labels.csv")
    ds.add_argument("--out", type=Path, required=True, help="new or empty folder")
    ds.add_argument("--count", type=_int_at_least(1), required=True, help="number of crops")
    ds.add_argument("--seed", type=int, required=True, help="same seed, same bytes")
    ds.add_argument("--size", type=_int_at_least(32), default=160, help="crop side in px (default 160)")
    ds.add_argument("--defect-rate", type=_rate, default=0.5, help="share of NG crops (default 0.5)")
    ds.add_argument("--shape", choices=[*ALL_SHAPES, "mixed"], default="mixed",
                    help="part type (default mixed; bezel: a design no shipped model has seen)")
    ds.add_argument("--mold", type=_int_at_least(0), metavar="N",
                    help="one mold: every crop of a shape has mold N's design and resin colour, as on a line "
                         "(default: a new design and colour per crop)")
    ds.set_defaults(func=run_dataset)

    ft = sub.add_parser("footage", help="MJPG .avi of the line + FILE.timeline.json ground truth")
    ft.add_argument("--out", type=Path, required=True, help="video file, *.avi")
    ft.add_argument("--shots", type=_int_at_least(1), required=True, help="number of mold shots")
    ft.add_argument("--seed", type=int, required=True, help="same seed, same bytes")
    ft.add_argument("--cavities", type=_cavities, default=4, help="1, 2, 4 or 8 (default 4)")
    ft.add_argument("--fps", type=_positive_float, default=10.0, help="frames per second (default 10)")
    ft.add_argument("--cycle-s", type=_positive_float, default=2.0, help="mold cycle time, s (default 2.0)")
    ft.add_argument("--defect-rate", type=_rate, default=0.1, help="share of NG parts (default 0.1)")
    ft.add_argument(
        "--cavity-defect-rate",
        type=_cavity_rate,
        action="append",
        default=[],
        metavar="CAVITY:RATE",
        help="override the defect rate of one cavity (repeatable), e.g. 3:0.5 for a worn cavity 3",
    )
    ft.add_argument(
        "--shape",
        choices=[*ALL_SHAPES, "mixed"],
        default=None,
        help="part type; default: one type chosen by the seed; mixed: a family mold, one type per cavity",
    )
    ft.add_argument("--mold-seed", type=int, default=None, metavar="N",
                    help="the mold's design and colour from seed N instead of --seed: recordings of other "
                         "days of the same mold (e.g. one to teach, one to judge afresh)")
    ft.add_argument("--fault", type=_fault, action="append", default=[], metavar=FAULT_SYNTAX,
                    help=_FAULT_HELP)
    ft.set_defaults(func=run_footage)

    add_plc_parsers(sub)
