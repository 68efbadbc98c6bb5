"""`moldpilot quantize MODEL --calib DATA_DIR --out MODEL_INT8.onnx`: static INT8, checked before writing."""

from __future__ import annotations

import argparse
import json

from edge.errors import DataError, ModelError


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "quantize", help="INT8-quantise a model, calibrated on good images; refuses an accuracy drop",
        description="onnxruntime static QDQ INT8 of the backbone (pre-processing and head stay float32), "
                    "calibrated on the good images of --calib; FP32 and INT8 are compared on a validation "
                    "set (--val, else the good images of --calib not used to calibrate plus its defect "
                    "images) and the model is not written if the figure (AUROC for good-only models, else "
                    "accuracy) drops by more than --max-drop, unless --force.")
    parser.add_argument("model", metavar="MODEL", help="MoldPilot FP32 ONNX model (card embedded)")
    parser.add_argument("--calib", required=True, metavar="DATA_DIR",
                        help="folder with the good class (the card's ok class) and optionally defect folders")
    parser.add_argument("--out", required=True, metavar="MODEL_INT8.onnx",
                        help="model to write (+ .card.json)")
    parser.add_argument("--val", metavar="DIR",
                        help="labelled validation folder (default: held out of --calib)")
    parser.add_argument("--max-drop", type=float, default=0.01,
                        help="largest accepted drop of AUROC/accuracy, absolute (default 0.01)")
    parser.add_argument("--force", action="store_true",
                        help="write the INT8 model even if it drops more (to measure it only: its card says "
                             "so, and run / replay / eval refuse it)")
    parser.add_argument("--calib-count", type=int, default=200,
                        help="good images to calibrate on (default 200)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(func=_quantize)


def _quantize(args: argparse.Namespace) -> int:
    from models.card import CardError
    from models.dataset import DatasetError
    from models.quantize import QuantizeError, quantize_model

    if args.max_drop < 0 or args.calib_count < 1:
        raise DataError("--max-drop must be >= 0 and --calib-count >= 1")
    try:
        summary = quantize_model(args.model, args.calib, args.out, args.val, args.max_drop, args.force,
                                 args.calib_count)
    except DatasetError as exc:
        raise DataError(str(exc)) from exc
    except (CardError, QuantizeError) as exc:
        raise ModelError(str(exc)) from exc
    if args.json:
        print(json.dumps(summary))
        return 0
    key, fp32, int8 = summary["figure"], summary["fp32"], summary["int8"]
    print(f"wrote {summary['model']} (+ card), calibrated on {summary['calibration_images']} good images")
    print(f"{key}  fp32 {fp32[key]:.4f}  int8 {int8[key]:.4f}  drop {summary['drop']:+.4f} on "
          f"{fp32['n']} validation images; verdicts agree on {summary['verdict_agreement']:.2%}")
    return 0
