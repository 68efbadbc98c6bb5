"""`moldpilot train DATA_DIR --out MODEL.onnx`: train a defect model on a folder of labelled images."""

from __future__ import annotations

import argparse
import json
import sys

from edge.errors import DataError


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "train", help="train a defect model (ONNX + card) on DATA_DIR/<class>/*.png",
        description="Pretrained MobileNetV2 features + a logistic-regression head, exported as one ONNX "
                    "graph with its card. Size, taps and pooling are chosen by cross-validation on DATA_DIR; "
                    "the threshold is set and verified on out-of-fold scores of every image.")
    parser.add_argument("data_dir", metavar="DATA_DIR", help="one sub-folder of images per class")
    parser.add_argument("--out", required=True, metavar="MODEL.onnx", help="model to write (+ .card.json)")
    parser.add_argument("--ok-class", default="ok", help="folder name of the good parts (default: ok)")
    parser.add_argument("--target-escape", type=float, default=0.005,
                        help="highest share of defective parts passed as OK on validation (default 0.005)")
    parser.add_argument("--max-false-reject", type=float, default=0.01,
                        help="highest share of good parts rejected: caps the threshold when the escape "
                             "target cannot be verified (default 0.01)")
    parser.add_argument("--size", type=int, default=None, metavar="PX",
                        help="input size in pixels instead of the automatic choice (160, 224, 320 tried)")
    parser.add_argument("--start-from", metavar="MODEL.onnx", default=None,
                        help="supervised: features from this MoldPilot model's own network (e.g. the "
                             "station's active model, which has learnt defects) instead of the ImageNet "
                             "backbone; the new model keeps its input size (models/start_model.py)")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="good-only: share of good images held out for validation (supervised mode "
                             "scores every image by k-fold cross-validation instead)")
    parser.add_argument("--seed", type=int, default=0, help="split and head seed (default 0)")
    parser.add_argument("--mode", choices=["supervised", "good-only"], default="supervised",
                        help="supervised (every class labelled) or good-only (only the ok folder is needed; "
                             "defect folders calibrate the threshold); default supervised")
    good = parser.add_argument_group("good-only mode (models/good_only.py)")
    good.add_argument("--ok-quantile", type=float, default=0.995,
                      help="threshold = this quantile of good validation scores when there are no defect "
                           "images (default 0.995)")
    good.add_argument("--channels", type=int, default=None,
                      help="embedding channels kept of 216 (default: chosen with the taps and --score from "
                           "the data; 100 when --score or --size is given)")
    good.add_argument("--groups", type=int, default=1,
                      help="k-means groups of good parts, one Gaussian set each (default 1)")
    good.add_argument("--score", choices=["global", "local"], default=None,
                      help="image score from the global-average Gaussian (parts at any rotation) or the "
                           "heatmap's peak (aligned parts, small defects); default: chosen from the data "
                           "(global when --channels or --size is given)")
    good.add_argument("--design-components", type=int, default=0, metavar="K",
                      help="remove the good parts' top K principal components of the whole feature map "
                           "before the Gaussians: for parts of many designs in one model (default 0: off)")
    good.add_argument("--grey", action="store_true",
                      help="judge brightness-normalised grey, not colour (resin colour is not a defect)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="feature-extraction threads (default 0: every core); the console's training "
                             "job runs with few, so the line keeps its latency")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--progress-json", action="store_true",
                        help="report progress on stderr as JSON lines " + PROGRESS_FORMAT + " (read by "
                             "the console's training job, edge/teach/jobs.py)")
    parser.set_defaults(func=_train)


PROGRESS_FORMAT = '{"progress": {"stage": STAGE, "done": N, "total": M}}'


def _print_progress(stage: str, done: int, total: int) -> None:
    """One machine-readable progress line per batch of images (see PROGRESS_FORMAT)."""
    print(json.dumps({"progress": {"stage": stage, "done": done, "total": total}}), file=sys.stderr,
          flush=True)


def _train(args: argparse.Namespace) -> int:
    from models.card import CardError
    from models.dataset import DatasetError
    from models.readiness import readiness_text
    from models.start_model import StartModelError
    from models.trainer import train

    if not 0.0 <= args.target_escape < 1.0:
        raise DataError(f"--target-escape must be in [0, 1), got {args.target_escape}")
    if not 0.0 <= args.max_false_reject <= 1.0 or not 0.0 < args.val_fraction < 1.0:
        raise DataError("--max-false-reject must be in [0, 1] and --val-fraction between 0 and 1, got "
                        f"{args.max_false_reject} and {args.val_fraction}")
    if args.size is not None and not 32 <= args.size <= 1024:
        raise DataError(f"--size must be between 32 and 1024 pixels, got {args.size}")
    if args.threads < 0:
        raise DataError(f"--threads must be 0 (every core) or more, got {args.threads}")
    if args.start_from is not None and args.mode == "good-only":
        raise DataError("--start-from is for supervised training; good-only models use the ImageNet backbone")
    common = {"ok_class": args.ok_class, "target_escape": args.target_escape, "seed": args.seed,
              "progress": _print_progress if args.progress_json else sys.stderr.isatty(),
              "threads": args.threads}
    try:
        if args.mode == "good-only":
            from models.good_only import train_good_only
            from models.trainer import DEFAULT_SIZE

            channels = 100 if args.channels is None else args.channels
            if (not 0.0 < args.ok_quantile < 1.0 or not 1 <= channels <= 216 or args.groups < 1
                    or args.design_components < 0 or (args.size or 16) % 16):
                raise DataError("good-only needs 0 < --ok-quantile < 1, 1 <= --channels <= 216, --size a "
                                "multiple of 16, "
                                "--groups >= 1 and --design-components >= 0")
            summary = train_good_only(args.data_dir, args.out, ok_quantile=args.ok_quantile,
                                      n_channels=channels, n_groups=args.groups,
                                      score_source=args.score or "global", size=args.size or DEFAULT_SIZE,
                                      auto=args.channels is None and args.score is None and args.size is None,
                                      design_components=args.design_components, grey=args.grey,
                                      val_fraction=args.val_fraction, **common)
        else:
            summary = train(args.data_dir, args.out, max_false_reject=args.max_false_reject, size=args.size,
                            start_from=args.start_from, **common)
    except (DatasetError, CardError, StartModelError) as exc:
        raise DataError(str(exc)) from exc
    if args.json:
        print(json.dumps(summary))
        return 0
    val = summary["validation"]
    print(f"wrote {summary['model']} (+ card) in {summary['seconds']} s")
    print(f"classes     {', '.join(summary['class_names'])} (counts {summary['training']['counts']})")
    if summary["unreadable_files"]:
        print(f"skipped     {len(summary['unreadable_files'])} unreadable file(s): "
              + ", ".join(summary["unreadable_files"]))
    chosen = summary["training"].get("selection") or summary["training"].get("auto_choice")
    if chosen:
        keys = [k for k in ("height_width", "size", "features", "taps", "score_source") if k in chosen]
        print("settings    " + ", ".join(f"{k} {chosen[k]}" for k in keys) + " (chosen from the data)")
    note = val.get("threshold_note") or val["threshold_rule"]
    print(f"threshold   {summary['threshold']:.4f} on P(defect): {note}")
    figures = " ".join(f"{key}={'n/a' if val[key] is None else format(val[key], '.4f')}"
                       for key in ("accuracy", "escape_rate", "false_reject_rate", "auroc"))
    print(f"validation  n={val['n']} {figures}" + (f" ({val['basis']})" if "basis" in val else ""))
    print(readiness_text(val["readiness"]))
    return 0
