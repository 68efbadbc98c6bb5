"""ModelRunner: one ONNX defect model, checked against its card, run with IO binding on fixed buffers.

Decisions, in the order a frame meets them:
- **Trust nothing until checked.** The file is read once; the same bytes are hashed (models.card
  file_sha256, without importing onnx) and handed to onnxruntime, so the session runs exactly what was
  checked. The card comes from the ONNX metadata and/or the sidecar MODEL.card.json; if both exist they
  must agree. The session's input (name, shape, dtype) and outputs (names) must match the card. Any
  mismatch is a ModelError with one line that says which file, what differs and how to fix it.
- **Providers by preference, honestly reported.** edge/pipeline/providers.py maps config names to onnxruntime
  providers (unavailable ones logged and skipped, CPU always last); the log line names the provider the
  session really uses (`session.get_providers()[0]`), not the one we hoped for. If creating the session
  with accelerators fails, we retry once on CPU and say so.
- **No allocation per frame.** The input tensor is a uint8 NHWC buffer [max_batch, H, W, C] allocated
  once; `preprocess_into` crops with a view and cv2.resize writes straight into buffer[slot] (`dst=`).
  Normalisation (mean/std) happens inside the graph (card `normalize_in_graph: true`), so the runner only
  supports uint8 NHWC models with that flag. Output buffers are allocated once at max_batch; for a batch of
  n, IO binding binds the first n rows of input and outputs (contiguous views), cached per n.
- **Warm up before serving.** Each batch size used (1 and max_batch) runs once untimed and once timed;
  the timed runs are kept in `warm_latency_ms` and logged.

A runner is owned by one thread: `preprocess_into` and `infer` share its buffers without a lock. A
second thread gets its own runner on the same session with `lane()`.
Verdicts (thresholds, defect class) are the Judge's job, not the runner's.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edge.errors import ModelError
from edge.pipeline.int8_gate import check_int8_gate
from edge.pipeline.providers import PROVIDERS, ProviderChoice, resolve_providers
from models.card import CardError, ModelCard, file_card, file_sha256, load_sidecar, sidecar_path

log = logging.getLogger(__name__)

_INTERPOLATION = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}
_ORT_TYPES = {"uint8": "tensor(uint8)", "float32": "tensor(float)"}


@dataclass(frozen=True)
class RunnerOutputs:
    """Views into the runner's preallocated output buffers: overwritten by the next `infer` call.

    Copy (`probs.copy()`) anything that must outlive the next inference.
    """

    probs: np.ndarray  # [n, C] class probabilities, columns in card.class_names order
    heatmap: np.ndarray | None = None  # [n, h, w] coarse defect heatmap, if the model has one
    anomaly_score: np.ndarray | None = None  # [n] if the model has one


class ModelRunner:
    """Load a model + card, refuse mismatches, preprocess into fixed buffers and run batches."""

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] = ("cpu",),
        max_batch: int = 1,
        intra_op_threads: int = 0,
        trt_cache_dir: str | Path | None = None,
        trt_fp16: bool = False,
        warm_up: bool = True,
    ) -> None:
        if max_batch < 1:
            raise ModelError(f"max_batch must be >= 1, got {max_batch}")
        self.path = Path(model_path)
        self.max_batch = max_batch
        data, self.card = load_checked(self.path)
        cache_dir = Path(trt_cache_dir) if trt_cache_dir else self.path.parent / "trt_cache"
        requested = list(providers)
        self.session = self._create_session(data, resolve_providers(requested, cache_dir, trt_fp16),
                                            intra_op_threads)
        self.provider: str = self.session.get_providers()[0]
        log.info("model %s runs on %s (requested: %s)", self.path.name, self.provider, ", ".join(requested))
        self._check_session()

        spec = self.card.input
        self.height, self.width = spec.height_width
        self._interpolation = _INTERPOLATION[spec.resize.interpolation]
        self._allocate_buffers()
        self.warm_latency_ms: dict[int, float] = {}
        if warm_up:
            self.warm_up()

    def _allocate_buffers(self) -> None:
        spec = self.card.input
        self.input_buffer = np.zeros((self.max_batch, self.height, self.width, spec.channels), np.uint8)
        # Scratch for a colour conversion when image and model colour differ (gray <-> bgr).
        self._scratch_gray = np.zeros((self.height, self.width), np.uint8)
        self._scratch_bgr = np.zeros((self.height, self.width, 3), np.uint8)
        self._outputs = {o.name: np.zeros((self.max_batch, *self._output_dims(o.name)), np.float32)
                         for o in self.session.get_outputs()}
        self._bindings: dict[int, ort.IOBinding] = {}

    def lane(self) -> ModelRunner:
        """Another runner on this one's session, with its own buffers, for a second inference thread.

        onnxruntime runs one session from several threads at once (Run is thread-safe), so lanes share
        the weights and the warm-up; only the buffers, which `infer` binds, must not be shared. With one
        intra-op thread per lane, two lanes on two cores judge ~18 % more frames/s than one lane with
        two intra-op threads (small convolutions split poorly across threads; whole batches do not).
        """
        other = copy.copy(self)
        other._allocate_buffers()
        other.warm_latency_ms = dict(self.warm_latency_ms)
        return other

    # -- loading and checks ---------------------------------------------------------------------------

    def _create_session(
        self, data: bytes, providers: list[ProviderChoice], threads: int
    ) -> ort.InferenceSession:
        """Session from the checked bytes; if accelerators fail to initialise, retry once on CPU only."""
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # 0 = onnxruntime default (one per physical core)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            return ort.InferenceSession(data, sess_options=opts, providers=providers)
        except Exception as exc:
            if len(providers) == 1:
                raise ModelError(f"onnxruntime cannot load {self.path.name}: {exc}; "
                                 "re-export the model") from exc
            log.warning("creating a session for %s with %s failed (%s); retrying on CPU only",
                        self.path.name, providers, exc)
            return self._create_session(data, [PROVIDERS["cpu"]], threads)

    def _check_session(self) -> None:
        name, spec = self.path.name, self.card.input
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"model {name} has {len(inputs)} inputs; the runner needs exactly one image "
                             "input; re-export the model")
        got = inputs[0]
        if got.name != spec.name:
            raise ModelError(f"model {name} input is named {got.name!r} but its card says {spec.name!r}; "
                             "re-export the model or fix the card")
        if got.type != _ORT_TYPES[spec.dtype]:
            raise ModelError(f"model {name} input {got.name!r} is {got.type} but its card says {spec.dtype}; "
                             "re-export the model or fix the card")
        same_hwc = list(got.shape[1:]) == list(spec.shape[1:])
        if not same_hwc or not self._batch_matches(got.shape[0], spec.shape[0]):
            raise ModelError(f"model {name} input {got.name!r} has shape {got.shape} but its card says "
                             f"{spec.shape}; re-export the model or fix the card")
        if isinstance(got.shape[0], int) and got.shape[0] != self.max_batch:
            raise ModelError(f"model {name} has a fixed batch of {got.shape[0]} but max_batch is "
                             f"{self.max_batch}; set max_batch to {got.shape[0]} or export a dynamic batch")
        described = {o.name for o in self.card.outputs}
        present = {o.name for o in self.session.get_outputs()}
        if present - described:
            raise ModelError(f"model {name} has output(s) {sorted(present - described)} that its card does "
                             "not describe; re-export the model with a card that lists every output")
        if described - present:
            raise ModelError(f"card of {name} describes output(s) {sorted(described - present)} that the "
                             "model does not have; re-export the model or fix the card")
        for out in self.session.get_outputs():
            if out.type != "tensor(float)":
                raise ModelError(f"model {name} output {out.name!r} is {out.type}; the runner needs float32")

    @staticmethod
    def _batch_matches(session_dim: object, card_dim: int | None) -> bool:
        dynamic_card = card_dim is None or card_dim == -1
        dynamic_session = not isinstance(session_dim, int) or session_dim < 1
        return dynamic_card == dynamic_session and (dynamic_card or session_dim == card_dim)

    def _output_dims(self, output_name: str) -> tuple[int, ...]:
        """Non-batch dims of an output: from the session if static, else from the card; must be known."""
        session_shape = next(o.shape for o in self.session.get_outputs() if o.name == output_name)
        card_shape = next(o.shape for o in self.card.outputs if o.name == output_name)
        if len(session_shape) != len(card_shape):
            raise ModelError(f"model {self.path.name} output {output_name!r} has shape {session_shape} but "
                             f"its card says {card_shape}; re-export the model or fix the card")
        dims = []
        for got, want in zip(session_shape[1:], card_shape[1:], strict=True):
            static_got = isinstance(got, int) and got > 0
            static_want = want is not None and want > 0
            if static_got and static_want and got != want:
                raise ModelError(f"model {self.path.name} output {output_name!r} has shape {session_shape} "
                                 f"but its card says {card_shape}; re-export the model or fix the card")
            if not (static_got or static_want):
                raise ModelError(f"output {output_name!r} of {self.path.name} has a dynamic non-batch "
                                 "dimension; state its size in the card")
            dims.append(int(got) if static_got else int(want))  # type: ignore[arg-type]
        return tuple(dims)

    # -- per frame ------------------------------------------------------------------------------------

    def preprocess_into(
        self, slot: int, image: np.ndarray, roi_xywh: tuple[int, int, int, int] | None = None
    ) -> None:
        """Crop `image` to roi_xywh (pixels; a view, no copy) and resize it into input_buffer[slot].

        `image` is uint8 BGR [H, W, 3] (as cv2 delivers) or gray [H, W]. A gray image feeding a colour model
        is resized into a gray scratch, then expanded GRAY2BGR into the slot; a BGR image feeding a gray
        model goes the other way. For an `rgb` model the slot is swapped in place after the resize.
        """
        if not 0 <= slot < self.max_batch:
            raise IndexError(f"slot {slot} outside 0..{self.max_batch - 1}")
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise ValueError(f"expected uint8 image [H, W] or [H, W, 3], got {image.dtype} {image.shape}")
        crop = image
        if roi_xywh is not None:
            x, y, w, h = roi_xywh
            if w < 1 or h < 1 or x < 0 or y < 0 or x + w > image.shape[1] or y + h > image.shape[0]:
                raise ValueError(f"roi_xywh {roi_xywh} is outside the "
                                 f"{image.shape[1]}x{image.shape[0]} image")
            crop = image[y:y + h, x:x + w]
        size_wh = (self.width, self.height)
        dst = self.input_buffer[slot]
        if self.card.input.colour == "gray":
            dst2d = dst.reshape(self.height, self.width)  # [H, W, 1] -> [H, W], still a view
            if crop.ndim == 2:
                _resize(crop, size_wh, dst2d, self._interpolation)
            else:
                _resize(crop, size_wh, self._scratch_bgr, self._interpolation)
                cv2.cvtColor(self._scratch_bgr, cv2.COLOR_BGR2GRAY, dst=dst2d)
            return
        if crop.ndim == 2:
            _resize(crop, size_wh, self._scratch_gray, self._interpolation)
            cv2.cvtColor(self._scratch_gray, cv2.COLOR_GRAY2BGR, dst=dst)
        else:
            _resize(crop, size_wh, dst, self._interpolation)
        if self.card.input.colour == "rgb":
            cv2.cvtColor(dst, cv2.COLOR_BGR2RGB, dst=dst)

    def infer(self, n: int) -> RunnerOutputs:
        """Run the model on input_buffer[:n]; returns views of the output buffers (overwritten next call)."""
        if not 1 <= n <= self.max_batch:
            raise ValueError(f"batch size {n} outside 1..{self.max_batch}")
        binding = self._bindings.get(n)
        if binding is None:
            binding = self._bind(n)
        self.session.run_with_iobinding(binding)
        heatmap, score = self.card.output("heatmap"), self.card.output("anomaly_score")
        return RunnerOutputs(
            probs=self._outputs[self.card.output("classifier").name][:n],  # type: ignore[union-attr]
            heatmap=self._outputs[heatmap.name][:n] if heatmap else None,
            anomaly_score=self._outputs[score.name][:n] if score else None,
        )

    def _bind(self, n: int) -> ort.IOBinding:
        """IO binding of the first n rows of the input and output buffers (contiguous views), cached."""
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(self.card.input.name,
                                    ort.OrtValue.ortvalue_from_numpy(self.input_buffer[:n]))
        for name, buffer in self._outputs.items():
            binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(buffer[:n]))
        self._bindings[n] = binding
        return binding

    def warm_up(self) -> None:
        """Run each batch size used (1 and max_batch) once untimed, once timed; log the timed latency.

        The first run of a batch size is where TensorRT builds its engine (minutes on a Jetson, on the
        first start only, when an engine cache is set), so each step is logged before it starts: the
        operator sees progress instead of a silent start, and the first part on the line is not late.
        """
        self.input_buffer[...] = 128
        sizes = sorted({1, self.max_batch}) if self._dynamic_batch else [self.max_batch]
        for step, n in enumerate(sizes, start=1):
            log.info("warm-up %d/%d: model %s, batch %d on %s%s", step, len(sizes), self.path.name, n,
                     self.provider, " (a TensorRT engine build can take minutes)"
                     if self.provider.startswith("Tensorrt") else "")
            self.infer(n)
            t0 = time.perf_counter()
            self.infer(n)
            self.warm_latency_ms[n] = (time.perf_counter() - t0) * 1000.0
        log.info("model %s warmed up on %s: %s", self.path.name, self.provider,
                 ", ".join(f"batch {n} {ms:.1f} ms" for n, ms in self.warm_latency_ms.items()))

    @property
    def _dynamic_batch(self) -> bool:
        dim = self.session.get_inputs()[0].shape[0]
        return not isinstance(dim, int) or dim < 1

    def close(self) -> None:
        """Release the session and its bindings."""
        self._bindings.clear()
        self.session = None  # type: ignore[assignment]

    def __enter__(self) -> ModelRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resize(src: np.ndarray, size_wh: tuple[int, int], dst: np.ndarray, interpolation: int) -> None:
    """cv2.resize into dst; guards that OpenCV wrote in place instead of allocating a new array."""
    out = cv2.resize(src, size_wh, dst=dst, interpolation=interpolation)
    if out.ctypes.data != dst.ctypes.data:
        raise RuntimeError("cv2.resize reallocated its destination; the input buffer was not written")


def load_checked(path: Path) -> tuple[bytes, ModelCard]:
    """The model's bytes and card, refused with a ModelError when the card is missing, the two cards
    disagree, the graph's sha256 is not the card's (tampered or damaged), an INT8 graph has not passed
    its accuracy gate (edge/pipeline/int8_gate.py) or the input is not what the runner feeds. The one
    check every command that loads a model goes through (run, replay, doctor, eval, config check), so
    none can accept a model another refuses."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror}; check the model path") from exc
    try:
        embedded = file_card(data, str(path))
        sidecar = load_sidecar(path) if sidecar_path(path).exists() else None
    except CardError as exc:
        raise ModelError(str(exc)) from exc
    except ValueError as exc:
        raise ModelError(f"{path} is not a readable ONNX file ({exc}); re-export it") from exc
    if embedded is None and sidecar is None:
        raise ModelError(f"model {name} has no card (no 'moldpilot.card' metadata and no "
                         f"{sidecar_path(path).name}); export it with models.card.save_model")
    if embedded is not None and sidecar is not None and embedded != sidecar:
        a, b = embedded.model_dump(), sidecar.model_dump()
        fields = [k for k in a if a[k] != b[k]]
        raise ModelError(f"card embedded in {name} and {sidecar_path(path).name} disagree "
                         f"(fields: {', '.join(fields)}); re-export the model or restore the matching "
                         "card")
    card = embedded or sidecar
    assert card is not None
    actual = file_sha256(data, card)
    if actual != card.sha256:
        raise ModelError(f"model {name} was modified after its card was written (sha256 {actual[:12]}… "
                         f"!= card {card.sha256[:12]}…); re-export it or restore the original file")
    check_int8_gate(data, card, name)
    spec = card.input
    if spec.dtype != "uint8" or spec.layout != "NHWC" or not spec.normalize_in_graph:
        raise ModelError(f"model {name} takes {spec.dtype} {spec.layout} input (normalize_in_graph="
                         f"{spec.normalize_in_graph}); the runner needs uint8 NHWC with normalisation in "
                         "the graph; re-export it that way")
    return data, card
