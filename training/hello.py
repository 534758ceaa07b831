"""The course's character RNNs: learn to answer "hello" with "ohlol", one character per input character.

Three architectures (an ``RNNCell`` loop, ``nn.RNN``, embedding + RNN + linear head) learn the
same single pair; the figure that matters is per-character accuracy on it, which must be 100%.
"""

import torch
import torch.nn.functional as F
from torch import nn

from artifacts import GoldenSamples
from artifacts.manifest import SEQUENCE_LABELLING, SequencePreprocessing
from artifacts.sequence import decode_sequence, encode_sequences
from nets import build_model
from nets.course import per_position_probabilities
from training.course_loop import CourseFit, Pair, fit_course_model, make_optimiser, whole_batch
from training.course_publish import CourseArtifact

VOCABULARY = "ehlo"  # the course's idx2char: ['e', 'h', 'l', 'o']
MAX_LENGTH = 64
SOURCE, TARGET = "hello", "ohlol"
# One length, so their per-position probabilities stack into one (N, T, C) tensor.
GOLDEN_STRINGS = [SOURCE, TARGET, "olleh", "eeeee", "lhoel"]
ARCHITECTURES = {
    "rnncell": ("hello-rnncell", {"vocab_size": len(VOCABULARY)}),
    "rnn": ("hello-rnn", {"vocab_size": len(VOCABULARY), "num_layers": 1}),
    "embedding": (
        "hello-embedding",
        {"vocab_size": len(VOCABULARY), "embedding_dim": 10, "hidden_size": 8, "num_layers": 2},
    ),
}
PREPROCESSING = SequencePreprocessing(vocabulary=VOCABULARY, max_length=MAX_LENGTH)


def spec_for(arch: str) -> CourseArtifact:
    architecture, args = ARCHITECTURES[arch]
    return CourseArtifact(
        name=architecture,
        task=SEQUENCE_LABELLING,
        architecture=architecture,
        architecture_args=dict(args),
        labels=list(VOCABULARY),
        preprocessing=PREPROCESSING,
        loss_name="cross-entropy per character",
    )


def training_pair(vocabulary: str = VOCABULARY) -> Pair:
    """Tokens of "hello" (1, 5) and the indices of "ohlol" (1, 5)."""
    source, _ = encode_sequences([SOURCE], vocabulary, MAX_LENGTH)
    target, _ = encode_sequences([TARGET], vocabulary, MAX_LENGTH)
    return source, target


def per_character_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over every position: logits (N, T, C), target (N, T)."""
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def char_accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    return 100.0 * float((logits.argmax(dim=-1) == target).float().mean())


def train_hello(arch: str, epochs: int, lr: float) -> tuple[nn.Module, CourseFit]:
    """Adam on the one pair, a step per epoch, as in the course."""
    spec = spec_for(arch)
    model = build_model(spec.architecture, **spec.architecture_args)
    pair = training_pair()
    fit = fit_course_model(
        model,
        whole_batch(pair),
        train=pair,
        epochs=epochs,
        optimiser=make_optimiser("adam", model, lr),
        loss_fn=per_character_loss,
        scorer=char_accuracy,
    )
    return model, fit


@torch.no_grad()
def answer(model: nn.Module, text: str) -> str:
    """The model's output string for ``text``."""
    tokens, _ = encode_sequences([text], VOCABULARY, MAX_LENGTH)
    return decode_sequence(model.eval()(tokens)[0].argmax(dim=-1), list(VOCABULARY))


@torch.no_grad()
def hello_figures(model: nn.Module, vocabulary: str = VOCABULARY) -> dict[str, float]:
    """Per-character accuracy and mean loss on "hello" -> "ohlol"."""
    source, target = training_pair(vocabulary)
    logits = model.eval()(source)
    return {
        "train_char_accuracy": char_accuracy(logits, target),
        "train_loss": float(per_character_loss(logits, target)),
    }


@torch.no_grad()
def hello_golden(model: nn.Module) -> GoldenSamples:
    tokens, _ = encode_sequences(GOLDEN_STRINGS, VOCABULARY, MAX_LENGTH)
    return GoldenSamples(probabilities=per_position_probabilities(model.eval()(tokens)), names=list(GOLDEN_STRINGS))
