"""One runner per task kind: how inputs become tensors and tensors become probabilities.

A runner owns a loaded model on its device. ``prepare_*`` runs in the request's
task (cheap, per request); ``forward`` runs on the batch worker thread over the
concatenation of many requests' payloads.
"""

import copy
import statistics
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from artifacts import ImagePreprocessing, LoadedArtifact, TextPreprocessing
from artifacts.manifest import Task
from artifacts.text import FOLDING_RULE, encode_names, fold_name, has_letter
from nets.names import NamesGRU, StepwiseNamesGRU
from service.runtime.errors import UnprocessableInputError
from service.runtime.imaging import image_to_mnist

# Tracing warns of TorchScript's deprecation, and of nn.GRU's input checks becoming constants in the
# trace: neither tells an operator anything, as the golden check judges each graph. Set once for the
# process, not per trace: tracing runs on a lifespan thread and catch_warnings is not thread-safe.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit\.")
warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean", module=r"torch\.nn\.modules\.rnn")

# Batch sizes at which oneDNN's CPU kernels are timed against PyTorch's own (DigitRunner.optimise),
# and the stepwise GRU graph against PyTorch's GRU (NameRunner.optimise).
ONEDNN_PROBES = (4, 8, 16, 32, 64)
STEPWISE_PROBES = (1, 4, 16, 32, 64)
PROBE_REPEATS = 7
PROBE_WARMUPS = 2  # the first calls per shape and graph set up oneDNN's primitives and the JIT's plan


class ModelRunner(ABC):
    task: ClassVar[Task]
    graph: Literal["eager", "traced"] = "eager"  # "traced" once ``optimise`` swapped in a verified graph
    onednn_from: int | None = None  # on CPU, batches of at least this many rows run on oneDNN's kernels
    stepwise_until: int | None = None  # on CPU, unpadded batches of up to this many names run the stepwise GRU

    def __init__(self, artifact: LoadedArtifact, device: torch.device) -> None:
        self.manifest = artifact.manifest
        self.labels = list(artifact.manifest.labels)
        self.device = device
        self.golden = artifact.golden

    @abstractmethod
    def forward(self, payloads: Sequence[Any]) -> np.ndarray:
        """Probabilities (sum of payload sizes, classes) float32, rows in payload order."""

    @abstractmethod
    def golden_payload(self) -> Any:
        """The artifact's golden inputs, prepared exactly as a request's would be."""

    def golden_error(self) -> float:
        """Largest absolute difference from the probabilities recorded at training time."""
        probabilities = self.forward([self.golden_payload()])
        return self.golden.max_abs_error(torch.from_numpy(probabilities))

    def optimise(self, tolerance: float) -> None:  # noqa: B027 - most runners have nothing to optimise
        """Swap in a faster graph if it reproduces the golden outputs within ``tolerance`` (see ``graph``)."""

    @staticmethod
    def size(payload: Any) -> int:
        return len(payload)

    def _use_onednn(self, onednn: bool) -> None:
        """Choose the CPU kernels for this forward. The switch is process-wide, so every forward sets
        it for itself; two models' batches racing can only cost speed, as both kernels reproduce the
        golden outputs."""
        if self.device.type == "cpu":
            torch.backends.mkldnn.enabled = onednn  # type: ignore[assignment]


class _NormalisedSoftmax(nn.Module):
    """uint8 (N, 28, 28) -> probabilities, so one traced graph covers the whole request path."""

    def __init__(self, model: nn.Module, prep: ImagePreprocessing) -> None:
        super().__init__()
        self.model = model
        self.scale = 1.0 / (255.0 * prep.std)
        self.shift = prep.mean / prep.std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.unsqueeze(1).float() * self.scale - self.shift
        logits: torch.Tensor = self.model(x)
        return logits.softmax(dim=1)


class _Softmax(nn.Module):
    """The model's one input -> probabilities: digits as float32 (N, 1, 28, 28) already
    normalised, or names as int64 tokens (N, T) with no padding."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(x)
        return logits.softmax(dim=1)


class DigitRunner(ModelRunner):
    """A payload is uint8 (N, 28, 28) pixels, or float32 (N, 1, 28, 28) already normalised."""

    task = "image-classification"

    def __init__(self, artifact: LoadedArtifact, device: torch.device, max_image_pixels: int) -> None:
        super().__init__(artifact, device)
        prep = artifact.manifest.preprocessing
        if not isinstance(prep, ImagePreprocessing):
            raise TypeError(f"{artifact.path}: an image model needs image preprocessing")
        self.max_image_pixels = max_image_pixels
        served = _NormalisedSoftmax(artifact.model, prep).to(device).eval()
        self._scale, self._shift = np.float32(served.scale), np.float32(served.shift)
        self._eager_module = served
        self._module: nn.Module = served  # becomes the traced graph in ``optimise``, after readiness
        # What batches of ``onednn_from`` rows or more run on: the traced channels-last graph after ``optimise``.
        self._onednn_module: nn.Module = served
        # Normalised float input (V2 FP32) is rare: it stays eager, so no second trace is paid for.
        self._float_module = _Softmax(artifact.model).to(device).eval()

    def prepare_pixels(self, grids: Sequence[Sequence[Sequence[int]]]) -> np.ndarray:
        """Already validated 28x28 grids of 0..255 (MNIST convention) -> uint8 (N, 28, 28)."""
        return np.asarray(grids, dtype=np.uint8).reshape(len(grids), 28, 28)

    def prepare_image(self, data: bytes) -> np.ndarray:
        return image_to_mnist(data, self.max_image_pixels)[None]

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) as the model's first layer sees them."""
        return pixels[:, None].astype(np.float32) * self._scale - self._shift

    def forward(self, payloads: Sequence[np.ndarray]) -> np.ndarray:
        rows = sum(len(payload) for payload in payloads)
        onednn = self.onednn_from is not None and rows >= self.onednn_from
        if all(payload.dtype == np.uint8 for payload in payloads):  # the common case: one graph does it all
            batch = payloads[0] if len(payloads) == 1 else np.concatenate(payloads)
            module = self._onednn_module if onednn else self._module
        else:  # float input (V2 FP32) in the batch: normalise the uint8 payloads to join it
            floats = [self.normalise(p) if p.dtype == np.uint8 else p for p in payloads]
            batch, module = floats[0] if len(floats) == 1 else np.concatenate(floats), self._float_module
        return self._run(module, batch, onednn)

    def _run(self, module: nn.Module, batch: np.ndarray, onednn: bool) -> np.ndarray:
        self._use_onednn(onednn)
        inputs = torch.from_numpy(batch).to(self.device)
        with torch.inference_mode():
            probabilities: np.ndarray = module(inputs).float().cpu().numpy()
        return probabilities

    def optimise(self, tolerance: float) -> None:
        """Trace and freeze the pixel graph: the forward then runs as one graph call and drops the GIL
        once instead of at every layer. The first trace in a process costs about 0.5 s of JIT warm-up,
        so this runs after the server is ready; each graph is swapped in only if it reproduces the
        golden outputs with the kernels it will run on."""
        example = torch.zeros(2, 28, 28, dtype=torch.uint8, device=self.device)
        frozen = _freeze(self._eager_module, example)
        if frozen is not self._eager_module and self._golden_error_of(frozen, onednn=False) <= tolerance:
            self._module, self.graph = frozen, "traced"
        if self.device.type != "cpu":
            return
        channels_last = copy.deepcopy(self._eager_module).to(memory_format=torch.channels_last)
        frozen = _freeze(channels_last, example)
        if self._golden_error_of(frozen, onednn=True) <= tolerance:
            self._onednn_module = frozen
        self.onednn_from = self._onednn_threshold(tolerance)

    def _onednn_threshold(self, tolerance: float) -> int | None:
        """The smallest probed batch size from which oneDNN beats PyTorch's kernels at every larger probe.

        At batch 1 PyTorch's own convolutions on the plain layout take half the time of oneDNN's;
        from about 16 images oneDNN's on channels-last weights take a quarter to half less. Where
        they cross depends on the model (4 to 8 images for the convolutional nets, a coin toss for the
        MLP, which has no convolution), so it is timed per model, and oneDNN is used at all only
        if it reproduces the golden outputs too.
        """
        if self.golden_error(onednn=True) > tolerance:
            return None
        threshold = None
        for rows in reversed(ONEDNN_PROBES):
            if not self._onednn_is_faster(rows):
                break
            threshold = rows
        return threshold

    def _onednn_is_faster(self, rows: int) -> bool:
        pixels = np.resize(self.golden_payload(), (rows, 28, 28))
        return _is_faster(
            lambda: self._run(self._onednn_module, pixels, True), lambda: self._run(self._module, pixels, False)
        )

    def golden_payload(self) -> np.ndarray:
        assert self.golden.pixels is not None, "image artifacts store golden pixels"
        return self.golden.pixels.numpy()

    def golden_error(self, onednn: bool = False) -> float:
        """Both graphs, pixels and normalised floats, must reproduce the training-time outputs
        (``onednn``: on oneDNN's kernels, and for pixels the graph that runs on them)."""
        pixel_module = self._onednn_module if onednn else self._module
        floats = self._run(self._float_module, self.normalise(self.golden_payload()), onednn)
        return max(self._golden_error_of(pixel_module, onednn), self.golden.max_abs_error(torch.from_numpy(floats)))

    def _golden_error_of(self, module: nn.Module, onednn: bool) -> float:
        probabilities = self._run(module, self.golden_payload(), onednn)
        return self.golden.max_abs_error(torch.from_numpy(probabilities))


class NameRunner(ModelRunner):
    task = "text-classification"

    def __init__(self, artifact: LoadedArtifact, device: torch.device) -> None:
        super().__init__(artifact, device)
        prep = artifact.manifest.preprocessing
        if not isinstance(prep, TextPreprocessing):
            raise TypeError(f"{artifact.path}: a text model needs text preprocessing")
        if prep.folding != FOLDING_RULE:
            raise ValueError(
                f"{artifact.path}: trained with name folding {prep.folding!r} but this server folds with "
                f"{FOLDING_RULE!r}; retrain the model or serve it with a matching tinyserve version"
            )
        self.preprocessing = prep
        self._model = artifact.model.to(device).eval()
        # Batches with no padding skip packing; this becomes their traced graph in ``optimise``.
        self._unpadded: nn.Module = _Softmax(self._model).eval()
        # On CPU, unpadded batches of up to ``stepwise_until`` names run this graph instead (see ``optimise``).
        self._stepwise: nn.Module | None = None

    def prepare_names(self, names: Sequence[str]) -> list[str]:
        """Fold each name; reject the ones no model could read, naming which."""
        folded = []
        limit = self.preprocessing.max_length
        for i, raw in enumerate(names):
            stripped = raw.strip()
            if not stripped:
                raise UnprocessableInputError(f"names[{i}] is empty or only whitespace")
            if len(stripped) > limit:
                raise UnprocessableInputError(
                    f"names[{i}] has {len(stripped)} characters; at most {limit} are accepted"
                )
            name = fold_name(stripped)
            if not has_letter(name):
                raise UnprocessableInputError(
                    f"names[{i}] ({raw!r}) has no Latin letter after transliteration to ASCII"
                )
            folded.append(name[:limit])
        return folded

    def forward(self, payloads: Sequence[list[str]]) -> np.ndarray:
        names = [name for payload in payloads for name in payload]
        tokens, lengths = encode_names(names, self.preprocessing.vocabulary)
        self._use_onednn(False)  # the GRU has no kernel choice to make (onednn_from stays None)
        with torch.inference_mode():
            if bool((lengths == tokens.shape[1]).all()):
                outputs = self._unpadded_graph(len(names))(tokens.to(self.device))
            else:
                outputs = self._model(tokens.to(self.device), lengths).softmax(dim=1)
            probabilities: np.ndarray = outputs.float().cpu().numpy()
        return probabilities

    def _unpadded_graph(self, rows: int) -> nn.Module:
        if self._stepwise is not None and self.stepwise_until is not None and rows <= self.stepwise_until:
            return self._stepwise
        return self._unpadded

    def optimise(self, tolerance: float) -> None:
        """Trace and freeze the graph for batches with no padding (every request of one name, the
        common case): one graph call instead of the GRU module's Python layers, about 15% of a
        name's forward pass. Padded batches stay eager, as a trace cannot pack them. On CPU, the
        stepwise graph (``StepwiseNamesGRU``, a third less time for one name) then takes the
        batches it is timed faster on. Each graph is used only if every golden name, alone and so
        unpadded, reproduces its golden output."""
        example = encode_names(["ab"], self.preprocessing.vocabulary)[0].to(self.device)
        frozen = _freeze(self._unpadded, example)
        if frozen is not self._unpadded and self._golden_error_of(frozen) <= tolerance:
            self._unpadded, self.graph = frozen, "traced"
        if self.device.type != "cpu" or not isinstance(self._model, NamesGRU):
            return
        stepwise = _script(_Softmax(StepwiseNamesGRU(self._model)).eval())
        if stepwise is not None and self._golden_error_of(stepwise) <= tolerance:
            self._stepwise = stepwise
            self.stepwise_until = self._stepwise_threshold(stepwise)

    def _golden_error_of(self, unpadded: nn.Module) -> float:
        vocabulary = self.preprocessing.vocabulary
        with torch.inference_mode():
            alone = [unpadded(encode_names([name], vocabulary)[0].to(self.device)) for name in self.golden_payload()]
        return self.golden.max_abs_error(torch.cat(alone))

    def _stepwise_threshold(self, stepwise: nn.Module) -> int | None:
        """The largest probed batch size up to which the stepwise graph beats PyTorch's GRU at every
        smaller probe: it saves operations, not arithmetic, so its lead shrinks as batches grow
        (on a 2-core AMD EPYC about 30% at one name, 10 to 15% at 16, about even at 64)."""
        threshold = None
        for rows in STEPWISE_PROBES:
            if not self._stepwise_is_faster(stepwise, rows):
                break
            threshold = rows
        return threshold

    def _stepwise_is_faster(self, stepwise: nn.Module, rows: int) -> bool:
        names = [self.golden_payload()[0]] * rows
        tokens = encode_names(names, self.preprocessing.vocabulary)[0].to(self.device)
        with torch.inference_mode():
            return _is_faster(partial(stepwise, tokens), partial(self._unpadded, tokens))

    def golden_payload(self) -> list[str]:
        assert self.golden.names is not None, "text artifacts store golden names"
        return self.prepare_names(self.golden.names)


def _is_faster(candidate: Callable[[], object], incumbent: Callable[[], object]) -> bool:
    """Whether ``candidate`` takes less time than ``incumbent`` (medians of calls interleaved, so
    that requests served meanwhile slow both alike)."""
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for repeat in range(PROBE_WARMUPS + PROBE_REPEATS):
        for is_candidate, call in ((False, incumbent), (True, candidate)):
            started = time.perf_counter()
            call()
            if repeat >= PROBE_WARMUPS:
                seconds[is_candidate].append(time.perf_counter() - started)
    return statistics.median(seconds[True]) < statistics.median(seconds[False])


def _script(module: nn.Module) -> nn.Module | None:
    """The scripted, frozen graph of ``module``, or None where TorchScript cannot compile it."""
    try:
        with torch.inference_mode(False), torch.no_grad():
            frozen: nn.Module = torch.jit.freeze(torch.jit.script(module))
        return frozen
    except (RuntimeError, AttributeError):  # pragma: no cover - the traced graph still serves
        return None


def _freeze(module: nn.Module, example: torch.Tensor) -> nn.Module:
    """The traced, frozen graph of ``module``, or ``module`` itself where tracing fails."""
    try:
        with torch.inference_mode(False), torch.no_grad():
            traced = torch.jit.trace(module, example)  # type: ignore[no-untyped-call]
            frozen: nn.Module = torch.jit.freeze(traced)
        return frozen
    except (RuntimeError, AttributeError):  # pragma: no cover - eager still works, only slower
        return module


def top_k(probabilities: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """Per row, the k most probable (class index, probability), highest first, ties by index.

    Plain Python on the rows: for 10 or 18 classes it is 5x cheaper than numpy's argsort
    machinery, which costs more in call overhead than the sort itself.
    """
    ranked = []
    for row in probabilities.tolist():
        order = sorted(range(len(row)), key=row.__getitem__, reverse=True)[:k]
        ranked.append([(index, row[index]) for index in order])
    return ranked
