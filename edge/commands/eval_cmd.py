"""`moldpilot eval MODEL DATA_DIR`: accuracy, escape and false-reject rates of a model on labelled images."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.errors import DataError, ModelError


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("eval", help="measure a model on DATA_DIR/<class>/*.png")
    parser.add_argument("model", metavar="MODEL", help="MoldPilot ONNX model (card embedded)")
    parser.add_argument("data_dir", metavar="DATA_DIR", help="one sub-folder of images per class")
    parser.add_argument("--ok-class", default=None,
                        help="folder name of the good parts (default: the model card's ok class)")
    parser.add_argument("--overlays", metavar="DIR",
                        help="also write each image with its heatmap and verdict drawn on it to DIR/<class>/")
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: a summary)")
    parser.add_argument("--images", action="store_true",
                        help="with --json: also list every image's file, class and P(defect)")
    parser.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from edge.pipeline.runner import load_checked
    from models.card import CardError
    from models.dataset import DatasetError
    from models.evaluate import evaluate_model
    from models.readiness import readiness_text

    load_checked(Path(args.model))  # the check run, replay and doctor make: a tampered model is refused
    try:
        result = evaluate_model(args.model, args.data_dir, args.ok_class, progress=sys.stderr.isatty(),
                                images=args.images)
    except DatasetError as exc:
        raise DataError(str(exc)) from exc
    except CardError as exc:
        raise ModelError(str(exc)) from exc
    if args.overlays:
        from edge.overlays import write_overlays

        result["overlays"] = write_overlays(args.model, args.data_dir, args.overlays, args.ok_class)
        result["overlays_dir"] = args.overlays
    if args.json:
        print(json.dumps(result))
        return 0

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    print(f"{result['model']} on {result['data']}: n={result['n']} (ok {result['n_ok']}, "
          f"defective {result['n_defective']}), threshold {result['threshold']:.4f}")
    print(f"auroc {fmt(result['auroc'])}")
    print(f"{'':<20}{'at threshold':>14}{'at P>=0.5':>12}")
    for key in ("accuracy", "escape_rate", "false_reject_rate", "class_accuracy"):
        print(f"{key:<20}{fmt(result[key]):>14}{fmt(result['at_0_5'][key]):>12}")
    print("judged right per class (ok: passed, defect: rejected)")
    for row in result["per_class"]:
        print(f"  {row['class']:<18}{'n=' + str(row['n']):>8}{fmt(row['at_threshold']):>14}"
              f"{fmt(row['at_0_5']):>12}")
    names = result["class_names"]
    width = max(len(n) for n in names) + 2
    print("confusion (rows true, columns predicted)")
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, result["confusion"], strict=True):
        print(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    if args.overlays:
        print(f"wrote {result['overlays']} overlay(s) to {args.overlays}")
    if result["unreadable"]:
        print(f"skipped {result['unreadable']} unreadable file(s): " + ", ".join(result["unreadable_files"]))
    print(readiness_text(result["readiness"]))
    return 0
