"""`moldpilot replay FOOTAGE`: recorded footage through the production pipeline, scored if a timeline
(FOOTAGE.timeline.json) is beside it. See edge/replay.py for what is judged and how it is scored.

`--report DIR` writes DIR/summary.json, DIR/verdicts.jsonl (every verdict) and the HTML report
(edge/report, DIR/index.html) with a gallery of the first NG parts.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import models
from edge.config import ConsoleSection, StationConfig, StorageSection, load_config
from edge.errors import ConfigError, ModelError
from edge.replay import Speed, replay
from edge.report import write_report
from edge.sinks.jsonl import JsonlSink
from edge.station import Station
from sim.timeline import Timeline, load_timeline

GALLERY_PARTS = 60  # NG parts whose crops are kept for the report gallery
DEFAULT_MODEL_DIR = Path(models.__file__).parent / "default"
CONSOLE_PORT = 8080
REPLAY_NG_DIR = "var/replay-ng"  # the console's gallery for a replay without a storage section
REPLAY_NG_MB = 200.0


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("replay", help="judge recorded footage with the station pipeline and score it")
    parser.add_argument("footage", metavar="FOOTAGE", help="video file (its timeline sits beside it)")
    parser.add_argument("--config", metavar="FILE", help="station.yaml (default: built-in replay settings)")
    parser.add_argument("--model", metavar="M", help="ONNX model (overrides the config's; default: shipped)")
    parser.add_argument("--every-frame", action="store_true", help="judge every frame, not only triggers")
    parser.add_argument("--speed", choices=["max", "realtime"], default="max", help="replay pace")
    parser.add_argument("--report", metavar="DIR", help="write summary, verdicts and an HTML report to DIR")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--jsonl", metavar="FILE",
                        help="write every verdict (score, decision, truth) to FILE, one JSON per line")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics on 127.0.0.1:PORT while the replay runs")
    parser.add_argument("--console", action="store_true",
                        help="serve the station console while the replay runs, and after it until Ctrl-C")
    parser.add_argument("--console-port", type=int, default=CONSOLE_PORT, metavar="PORT",
                        help=f"console port (default {CONSOLE_PORT}; the config's console: section wins)")
    parser.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    footage = Path(args.footage)
    config = load_config(args.config) if args.config else default_config(footage, args.model)
    # A station.yaml's timeline belongs to its own source file, not necessarily to FOOTAGE.
    same_file = Path(config.source.uri).resolve() == footage.resolve()
    timeline = load_timeline(footage, config.source.timeline if same_file else None)
    console = with_console(config, args.console_port) if args.console else None
    summary = replay_with_report(footage, console or config, timeline, every_frame=args.every_frame,
                                 speed=args.speed, model_path=args.model,
                                 report_dir=Path(args.report) if args.report else None,
                                 jsonl=Path(args.jsonl) if args.jsonl else None,
                                 metrics_port=args.metrics_port,
                                 watch=show_console_url if console else None,
                                 hold=serve_until_interrupted if console else None)
    print(json.dumps(summary) if args.json else "\n".join(human_summary(summary)), flush=True)
    return 0


def replay_with_report(
    footage: Path,
    config: StationConfig,
    timeline: Timeline | None,
    *,
    every_frame: bool = False,
    speed: Speed = "max",
    model_path: str | None = None,
    report_dir: Path | None = None,
    jsonl: Path | None = None,
    progress: bool = True,
    metrics_port: int | None = None,
    watch: Callable[[Station], None] | None = None,
    hold: Callable[[Station], None] | None = None,
) -> dict[str, Any]:
    """Replay `footage`; with `report_dir`, also write summary.json, verdicts.jsonl and index.html there;
    with `jsonl`, every verdict to that file. Returns the summary (with the report's path under "report")."""
    files = {name: path for name, path in (("jsonl", report_dir / "verdicts.jsonl" if report_dir else None),
                                           ("jsonl-file", jsonl)) if path is not None}
    for path in files.values():
        if path.exists():
            path.unlink()  # a file of verdicts describes one run, not an append of several
    sinks = [JsonlSink(path, name) for name, path in files.items()]
    result = replay(footage, config, timeline, every_frame=every_frame, speed=speed,
                    model_path=model_path, sinks=sinks, progress=progress, metrics_port=metrics_port,
                    evidence_limit=GALLERY_PARTS if report_dir else 0, watch=watch, hold=hold)
    summary = result.summary
    if report_dir:
        (report_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        index = write_report(report_dir, {**summary, "source": str(footage)}, result.verdicts,
                             result.evidence)
        summary = {**summary, "report": str(index)}
    return summary


def with_console(config: StationConfig, port: int) -> StationConfig:
    """The settings plus a console on 127.0.0.1:`port` (unless they have a console: section) and an NG
    store for its gallery (unless they have one): var/replay-ng, under a small quota."""
    update: dict[str, Any] = {}
    if config.console is None:
        update["console"] = ConsoleSection(port=port)
    if config.storage is None:
        update["storage"] = StorageSection(ng_dir=str(Path(REPLAY_NG_DIR).resolve()), quota_mb=REPLAY_NG_MB)
    return config.model_copy(update=update)


def show_console_url(station: Station) -> None:
    if station.console is not None:
        print(f"console: {station.console.url}", file=sys.stderr, flush=True)


def serve_until_interrupted(station: Station) -> None:
    """After the footage ends: keep the console showing the last state until Ctrl-C."""
    print("replay finished; the console keeps the last state. Ctrl-C to stop.", file=sys.stderr, flush=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):  # a signal ends the wait (Ctrl-C raises KeyboardInterrupt here)
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def default_config(footage: Path, model: str | None) -> StationConfig:
    """Replay settings when no station.yaml is given: the file as a triggered source, the given model
    or the shipped default (models/default/*.onnx)."""
    model_path = Path(model) if model else default_model()
    if not model_path.is_file():
        raise ModelError(f"model file not found: {model_path}; check --model")
    try:
        return StationConfig.model_validate({
            "station": {"site": "replay", "line": "replay", "name": footage.stem or "replay"},
            "source": {"kind": "file", "uri": str(footage), "mode": "replay"},
            "model": {"path": str(model_path)},
        })
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(f"replay settings for {footage} are invalid: {exc}") from None


def default_model() -> Path:
    """The shipped model: the first models/default/*.onnx."""
    found = sorted(DEFAULT_MODEL_DIR.glob("*.onnx"))
    if not found:
        raise ModelError(f"no default model in {DEFAULT_MODEL_DIR}; pass --model MODEL.onnx "
                         "(train one with the models trainer)")
    return found[0]


def human_summary(summary: dict[str, Any]) -> list[str]:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f} %"

    lines = [
        f"replay {summary['footage']} ({summary['mode']}, model {summary['model']})",
        f"  frames   {summary['frames_in']} in, {summary['frames_judged']} judged, {summary['fps']} fps",
        f"  parts    {summary['parts']} ({summary['triggers']} triggers), verdicts {summary['verdicts']}",
        f"  scores   accuracy {pct(summary['accuracy'])}, escape {pct(summary['escape_rate'])}, "
        f"false reject {pct(summary['false_reject_rate'])}",
    ]
    for cavity, figures in summary["per_cavity"].items():
        lines.append(f"  cavity {cavity} accuracy {pct(figures['accuracy'])} over {figures['parts']} parts")
    if summary["truncated"]:
        lines.append(f"  WARNING: the file is short (truncated or corrupt): {summary['parts_without_frame']} "
                     "part(s) had no frame, counted apart (NO_FRAME) and not scored")
    if "report" in summary:
        lines.append(f"  report   {summary['report']}")
    return lines
