"""Execution providers: config names -> onnxruntime providers, in order of preference, CPU always last.

Config says what the station would like (`["tensorrt", "cuda", "openvino", "cpu"]`); this module keeps
what this onnxruntime build actually offers, logs a warning for each requested-but-missing provider, and
always appends CPU so a session can be created on any machine. Which provider really runs is only known
after the session exists (`session.get_providers()[0]`); the runner logs that, not our wish.

TensorRT gets its documented provider options: an engine cache (building an engine takes minutes on a
Jetson; the cache makes the second start fast) and optional FP16.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from edge.errors import ModelError

log = logging.getLogger(__name__)

PROVIDERS: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

ProviderChoice = str | tuple[str, dict[str, str]]


def resolve_providers(
    names: Sequence[str], trt_cache_dir: Path | None = None, trt_fp16: bool = False
) -> list[ProviderChoice]:
    """Config names -> onnxruntime providers (with options), keeping only available ones, CPU last."""
    unknown = [n for n in names if n not in PROVIDERS]
    if unknown:
        raise ModelError(f"unknown execution provider(s) {unknown}; allowed: {', '.join(PROVIDERS)}")
    available = set(ort.get_available_providers())
    chosen: list[ProviderChoice] = []
    for name in names:
        provider = PROVIDERS[name]
        if provider not in available:
            log.warning("execution provider %s (%s) is not available in this onnxruntime build; skipping",
                        name, provider)
        elif name == "tensorrt":
            options = {"trt_engine_cache_enable": "True", "trt_fp16_enable": str(bool(trt_fp16))}
            if trt_cache_dir is not None:
                options["trt_engine_cache_path"] = str(trt_cache_dir)
            chosen.append((provider, options))
        elif name != "cpu":
            chosen.append(provider)
    chosen.append(PROVIDERS["cpu"])
    return chosen
