"""Every registered architecture: output shapes, exact parameter counts, lookup errors."""

from typing import Any

import pytest
import torch

from artifacts.text import VOCABULARY, encode_names
from nets import ARCHITECTURES, build_model
from nets.names import NamesGRU, StepwiseNamesGRU

DIGIT_ARCHITECTURES = sorted(name for name in ARCHITECTURES if name.startswith("digits-"))
COURSE_ARCHITECTURES = {
    "linear-regression",
    "logistic-regression",
    "diabetes-mlp",
    "hello-rnncell",
    "hello-rnn",
    "hello-embedding",
}
# The names model as training builds it: 29 characters + pad + unknown, 18 countries.
NAMES_ARGS: dict[str, Any] = {"vocab_size": len(VOCABULARY) + 2, "num_classes": 18}


def test_every_architecture_is_covered() -> None:
    assert set(ARCHITECTURES) == {*DIGIT_ARCHITECTURES, "names-gru", *COURSE_ARCHITECTURES}


@pytest.mark.parametrize("architecture", DIGIT_ARCHITECTURES)
@pytest.mark.parametrize("batch", [1, 5])
def test_digit_models_map_images_to_ten_logits(architecture: str, batch: int) -> None:
    model = build_model(architecture).eval()
    with torch.inference_mode():
        logits = model(torch.randn(batch, 1, 28, 28))
    assert logits.shape == (batch, 10)
    assert logits.dtype == torch.float32


@pytest.mark.parametrize(
    "names",
    [["a"], ["nakamura"], ["o'neill", "li", "papadopoulos", "x"], ["wolfeschlegelsteinhausenbergerdorff", "ng"]],
)
def test_names_gru_maps_tokens_to_eighteen_logits(names: list[str]) -> None:
    model = build_model("names-gru", **NAMES_ARGS).eval()
    tokens, lengths = encode_names(names)
    with torch.inference_mode():
        logits = model(tokens, lengths)
    assert logits.shape == (len(names), 18)


@pytest.mark.parametrize(
    "names",
    [["li", "nakamura", "o'neill", "wolfeschlegelsteinhausen"], ["smith", "jones", "brown"]],
    ids=["padded-packed", "equal-unpacked"],
)
def test_names_gru_batches_like_single_names(names: list[str]) -> None:
    """A name's logits do not depend on the other names in its batch: a padded batch (packed)
    and a batch of equal lengths (run unpacked) both match each name alone (never padded)."""
    torch.manual_seed(0)
    model = build_model("names-gru", **NAMES_ARGS).eval()
    with torch.inference_mode():
        batched = model(*encode_names(names))
        alone = torch.cat([model(*encode_names([name])) for name in names])
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize(
    "names", [["a"], ["nakamura"], ["smith", "jones", "brown"]], ids=["one-letter", "one", "three-equal"]
)
def test_stepwise_names_gru_gives_the_gru_logits(layers: int, names: list[str]) -> None:
    """Eager and as the frozen TorchScript graph the service runs, for any depth."""
    torch.manual_seed(layers)
    model = NamesGRU(**NAMES_ARGS, hidden_size=32, num_layers=layers).eval()
    tokens, _ = encode_names(names)
    stepwise = StepwiseNamesGRU(model).eval()
    with torch.inference_mode(False), torch.no_grad():
        scripted = torch.jit.freeze(torch.jit.script(stepwise))
    with torch.inference_mode():
        expected = model(tokens)
        torch.testing.assert_close(stepwise(tokens), expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(scripted(tokens), expected, rtol=1e-5, atol=1e-6)


# Counted by hand from the layer definitions (weights + biases):
#   cnn:  Conv2d(1,10,5) 260 + Conv2d(10,20,5) 5,020 + Linear(320,10) 3,210
#   mlp:  Linear 784-512 401,920 + 512-256 131,328 + 256-128 32,896 + 128-64 8,256 + 64-10 650
#   inception: Conv2d(1,10,5) 260 + InceptionA(10) 19,104 + Conv2d(88,20,5) 44,020
#              + InceptionA(20) 19,824 + Linear(1408,10) 14,090;
#              InceptionA(c) = 1x1 branches 3*(16c+16) + pool branch 24c+24
#              + Conv(16,24,5) 9,624 + Conv(16,24,3) 3,480 + Conv(24,24,3) 5,208 = 72c + 18,384
#   resnet: Conv2d(1,16,5) 416 + 2 * Conv2d(16,16,3) 4,640 + Conv2d(16,32,5) 12,832
#           + 2 * Conv2d(32,32,3) 18,496 + Linear(512,10) 5,130
#   names-gru: Embedding(31,64) 1,984 + GRU layer 0 (in 64, H 128) 2 * 74,496
#              + layer 1 (in 256) 2 * 148,224 + Linear(256,18) 4,626;
#              per direction 3H*in + 3H*H + 2*3H
#   linear- and logistic-regression: Linear(1,1) 2
#   diabetes-mlp: Linear(8,6) 54 + Linear(6,4) 28 + Linear(4,1) 5
#   hello-rnncell and hello-rnn (V 4, H 4): H*V + H*H + 2H = 40
#   hello-embedding: Embedding(4,10) 40 + RNN layer 0 (in 10, H 8) 160 + layer 1 (in 8) 144 + Linear(8,4) 36
@pytest.mark.parametrize(
    ("architecture", "kwargs", "expected"),
    [
        ("digits-cnn", {}, 8_490),
        ("digits-mlp", {}, 575_050),
        ("digits-inception", {}, 97_298),
        ("digits-resnet", {}, 41_514),
        ("names-gru", NAMES_ARGS, 452_050),
        ("linear-regression", {}, 2),
        ("logistic-regression", {}, 2),
        ("diabetes-mlp", {}, 87),
        ("hello-rnncell", {}, 40),
        ("hello-rnn", {}, 40),
        ("hello-embedding", {}, 380),
    ],
)
def test_parameter_counts(architecture: str, kwargs: dict[str, Any], expected: int) -> None:
    model = build_model(architecture, **kwargs)
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("architecture", DIGIT_ARCHITECTURES)
def test_dropout_adds_no_parameters(architecture: str) -> None:
    plain, dropped = build_model(architecture), build_model(architecture, dropout=0.5)
    assert plain.state_dict().keys() == dropped.state_dict().keys()


def test_unknown_architecture_lists_known_names() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'digits-vit'") as excinfo:
        build_model("digits-vit")
    for name in ARCHITECTURES:
        assert name in str(excinfo.value)


def test_wrong_constructor_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError):
        build_model("digits-cnn", hidden_size=3)
