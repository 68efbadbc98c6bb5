"""Distil the four-view sim_parts_v2 into a network that needs fewer views: sim_parts_v3, the shipped default.

Needs torch, so it runs offline in the torch venv, like build_default.py:

    /work/torchenv/bin/python models/default/distill_default.py --teacher TEACHER.onnx
                                                                [--views as_is,half_turn] [--out OUT.onnx]

Why: the teacher averages P over four mirror images of each crop (models/flip_views.py), so it
costs four passes of the network per part. One view of the same network escapes and rejects far more
(finish_default.py's figures), because one pass's score depends on where a defect falls on the stride-16
grid. A student trained to give, in one or two passes, what the teacher gives averaged over its four
views is meant to keep the teacher's verdicts at a quarter or half of its cost (issue 22).

How: the student starts as the teacher's own one-view network (its ONNX weights, batch norms already
folded into the convolutions), blocks 0..3 frozen as in the teacher. It is trained on the teacher's
20,000 training crops, as rendered and after MJPG, and on the parts of TRAIN_RECORDINGS short recordings
(sim.footage.trigger_crops), with turns and flips as build_default.py does, on a
blend of the true class (hard) and the teacher's four-view probabilities of that crop (soft, softened by
TEMPERATURE). Then finish_default.py's steps: the views (default two), the threshold on the validation
set, the card. Deterministic like build_default.py. The teacher is in git history:
`git show cf41c81:models/default/sim_parts_v2.onnx > sim_parts_v2.onnx`.

Measured (issue 22). 8 fresh 100-shot recordings, seeds 777002-777009, 329 defective and 2,871 good
parts, threshold from the validation set; `benchmarks/bench_default.py --new MODEL`:

| model | escapes | false rejects | worst cavity |
|---|---|---|---|
| teacher sim_parts_v2, 4 views (shipped until then) | 2 | 2 | 0.99 |
| student, rendered crops only, 10 epochs, 1 view | 0 | 695 | 0.11 |
| the same, 2 views | 0 | 93 | 0.77 |
| student + 9,600 footage parts (400 x 6 shots), 8 epochs, 2 views | 1 | 20 | 0.95 |
| student + 12,000 footage parts (1,500 x 2 shots), 8 epochs, 2 views | 1 | 8 | 0.98 |
| student + 32,000 footage parts (`--recordings 4000`), 8 epochs, 2 views | 1 | 10 | 0.97 |
| 12,000 footage parts, all round trips decoded by FFmpeg as replay does, 2 views | 1 | 2 | 0.99 |
| the same + INT8 (finish_default.py --int8): **shipped, sim_parts_v3_int8** | 1 | 6 | 0.99 |

What the rows before the last two missed: their training and validation crops were read back by OpenCV's
own MJPEG reader, and replay decodes with FFmpeg. The student's good housings of 777005 scored at most
0.13 the one way and 0.28 the other, above the threshold the validation set gave (0.175), so no amount of
footage closed the gap. With the round trips decoded by FFmpeg (sim/footage.py `_through_mjpg`) the
threshold came out at 0.298 and held on the fresh recordings; INT8 moves the threshold to 0.190 (chosen
again on the INT8 graph's own validation scores) and costs 4 false rejects more, at a third of the
teacher's CPU per part (bench_default.py: 3.09x the parts per CPU-second).
Each run: ~8 min of rendering and teacher scores (cached with --cache), then ~4.5 min per epoch on 2 cores
with 12,000 footage parts, ~7.5 min with 32,000 (46 min in all for the shipped student).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from models.backbone.export_mobilenet_v2 import MobileNetV2
from models.card import read_card
from models.default import finish_default
from models.default.build_default import (
    BATCH,
    TRAIN_COUNT,
    TRAIN_SEED,
    DefectNet,
    Loss,
    export,
    fine_tune,
)
from models.default.finish_default import CLASS_NAMES, THREADS, footage_parts, render, score
from models.features import session
from models.flip_views import one_view_of

HERE = Path(__file__).resolve().parent
NAME = "sim_parts_v3"
EPOCHS = 4
LEARNING_RATE = 3e-4  # the student starts trained: a tenth of build_default's rate would barely move it
TEMPERATURE = 2.0
SOFT_WEIGHT = 0.7  # share of the teacher's term in the loss; the rest is the true class
TRAIN_RECORDINGS = (20_260_610_000, 1_500, 2)  # first seed, recordings, shots: 12,000 parts cut from footage


def _fold_batch_norms(module: nn.Module) -> None:
    """Every Conv2d + BatchNorm2d pair becomes one biased Conv2d (the BatchNorm an Identity), the
    structure the teacher's ONNX has after the exporter folded them."""
    for child in module.children():
        if isinstance(child, nn.Sequential):
            for i in range(len(child) - 1):
                if isinstance(child[i], nn.Conv2d) and isinstance(child[i + 1], nn.BatchNorm2d):
                    child[i] = nn.utils.fusion.fuse_conv_bn_eval(child[i].eval(), child[i + 1].eval())
                    child[i + 1] = nn.Identity()
        _fold_batch_norms(child)


def student_of(teacher_one_view: onnx.ModelProto) -> DefectNet:
    """A DefectNet with the teacher's weights: its Conv nodes, in graph order, onto the net's Conv2d
    modules in forward order (MobileNetV2 is a chain), each shape checked; its Gemm onto the head."""
    net = DefectNet(MobileNetV2())
    _fold_batch_norms(net)
    weights = {i.name: numpy_helper.to_array(i) for i in teacher_one_view.graph.initializer}
    nodes = [n for n in teacher_one_view.graph.node if n.op_type == "Conv"]
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if len(nodes) != len(convs):
        raise SystemExit(f"teacher has {len(nodes)} convolutions, the network {len(convs)}: not a "
                         "build_default.py network")
    for conv, node in zip(convs, nodes, strict=True):
        weight, bias = (torch.from_numpy(weights[name].copy()) for name in node.input[1:3])
        if weight.shape != conv.weight.shape:
            raise SystemExit(f"{node.name}: weight {tuple(weight.shape)} != {tuple(conv.weight.shape)}")
        conv.weight.data, conv.bias.data = weight, bias
    net.head.weight.data = torch.from_numpy(weights["head.weight"].copy())
    net.head.bias.data = torch.from_numpy(weights["head.bias"].copy())
    net.frozen.requires_grad_(False)
    return net


def blended(labels: np.ndarray, teacher_crops: np.ndarray, teacher_mjpg: np.ndarray) -> Loss:
    """(1 - SOFT_WEIGHT) x cross-entropy to the true class + SOFT_WEIGHT x T^2 x KL(teacher || student)
    at temperature T, the teacher's probabilities taken for the same crop, as rendered or after MJPG."""
    cross_entropy = nn.CrossEntropyLoss()
    log_teacher = [torch.from_numpy(np.log(np.clip(p, 1e-7, 1.0)) / TEMPERATURE).log_softmax(1)
                   for p in (teacher_crops, teacher_mjpg)]

    def loss(logits: torch.Tensor, index: np.ndarray, through_mjpg: np.ndarray) -> torch.Tensor:
        target = torch.where(torch.from_numpy(through_mjpg)[:, None], log_teacher[1][index],
                             log_teacher[0][index])
        soft = nn.functional.kl_div((logits / TEMPERATURE).log_softmax(1), target, log_target=True,
                                    reduction="batchmean") * TEMPERATURE**2
        hard = cross_entropy(logits, torch.from_numpy(labels[index]))
        return (1.0 - SOFT_WEIGHT) * hard + SOFT_WEIGHT * soft

    return loss


def _teacher_probs(teacher: Path, images: np.ndarray, cache: Path | None) -> np.ndarray:
    """The teacher's four-view probabilities of `images`, from `cache` when it holds them (keyed by the
    teacher's and the images' bytes)."""
    key = hashlib.blake2b(teacher.read_bytes(), digest_size=8)
    key.update(memoryview(np.ascontiguousarray(images)))
    path = cache / f"teacher-{key.hexdigest()}.npy" if cache else None
    if path and path.exists():
        return np.load(path)
    probs = score(teacher, images)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, probs)
    return probs


def distil(teacher: Path, out: Path, views: tuple[str, ...], cache: Path | None,
           epochs: int = EPOCHS, recordings: int = TRAIN_RECORDINGS[1]) -> dict:
    started = time.perf_counter()
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    crops, mjpg, labels = render(TRAIN_SEED, TRAIN_COUNT)
    first_seed, _, shots = TRAIN_RECORDINGS
    parts, part_labels = footage_parts(first_seed, recordings, shots)
    soft = [_teacher_probs(teacher, images, cache) for images in (crops, mjpg, parts)]
    # The parts cut from footage went through MJPG already: either choice of fine_tune gives them as they are.
    crops, mjpg = np.concatenate([crops, parts]), np.concatenate([mjpg, parts])
    labels = np.concatenate([labels, part_labels])
    soft = [np.concatenate([soft[0], soft[2]]), np.concatenate([soft[1], soft[2]])]
    print(f"teacher scored, {time.perf_counter() - started:.0f} s", flush=True)
    net = student_of(one_view_of(onnx.load(str(teacher))))
    fine_tune(net, crops, mjpg, blended(labels, *soft), epochs, LEARNING_RATE)
    card = read_card(teacher)
    teacher_name, card.name = card.name, NAME
    card.training.update(
        counts={CLASS_NAMES[k]: v for k, v in sorted(Counter(labels.tolist()).items())},
        head=(f"distilled from {teacher_name} (its four-view probabilities, "
              f"temperature {TEMPERATURE}, weight {SOFT_WEIGHT}, the rest the true class; {epochs} epochs, "
              f"AdamW, one-cycle lr {LEARNING_RATE}, batch {BATCH}, quarter turns and flips), starting "
              "from the teacher's one-view network; global average pool + linear over "
              f"{len(CLASS_NAMES)} classes; P(defect) = 1 - P(ok), averaged over the test-time views "
              "(`views`, models/flip_views.py)"),
        data=card.training["data"].replace("built by models/default/build_default.py",
                                           "distilled by models/default/distill_default.py")
        + f"; and the {len(part_labels)} parts of {recordings} recordings of {shots} shots (seeds from "
          f"{first_seed}), cut from their trigger frames (sim.footage.trigger_crops)",
    )
    card.provenance["teacher"] = f"{teacher_name}, sha256 {card.sha256}"
    summary = finish_default.finish(export(net, crops[:8]), card, out, views)
    session(out)  # the saved file loads
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True, metavar="TEACHER.onnx",
                        help="the four-view sim_parts_v2 (bench_default.py takes it from git history)")
    parser.add_argument("--views", default="as_is,half_turn", help="the student's test-time views")
    parser.add_argument("--cache", type=Path, help="keep the teacher's probabilities here between runs")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--recordings", type=int, default=TRAIN_RECORDINGS[1],
                        help="how many short training recordings to cut parts from")
    parser.add_argument("--out", type=Path, default=HERE.parents[1] / "var" / f"{NAME}.onnx")
    args = parser.parse_args()
    summary = distil(args.teacher, args.out, tuple(args.views.split(",")), args.cache, args.epochs,
                     args.recordings)
    finish_default.print_summary(summary)


if __name__ == "__main__":
    main()
