"""The course's models: shapes, output ranges, causality, TorchScript, and the shared output transforms."""

import pytest
import torch

from nets import build_model
from nets.course import DiabetesMLP, LinearRegression, binary_probabilities, per_position_probabilities

HELLO_ARCHITECTURES = ["hello-rnncell", "hello-rnn", "hello-embedding"]


@pytest.mark.parametrize("batch", [1, 4])
def test_linear_regression_predicts_one_value_per_row(batch: int) -> None:
    model = LinearRegression().eval()
    with torch.no_grad():
        model.linear.weight.fill_(2.0)
        model.linear.bias.fill_(0.5)
        y = model(torch.arange(batch, dtype=torch.float32).reshape(batch, 1))
    assert y.shape == (batch, 1)
    torch.testing.assert_close(y[:, 0], 2 * torch.arange(batch, dtype=torch.float32) + 0.5)


@pytest.mark.parametrize(("architecture", "kwargs"), [("logistic-regression", {}), ("diabetes-mlp", {})])
def test_sigmoid_models_return_one_probability_per_row(architecture: str, kwargs: dict[str, int]) -> None:
    model = build_model(architecture, **kwargs).eval()
    features = 1 if architecture == "logistic-regression" else 8
    with torch.inference_mode():
        p = model(torch.randn(5, features) * 10)
    assert p.shape == (5, 1)
    assert bool(((p >= 0) & (p <= 1)).all())


def test_diabetes_relu_variant_keeps_the_sigmoid_output() -> None:
    sigmoid = DiabetesMLP()
    relu = DiabetesMLP(hidden_sizes=[16, 8], activation="relu")
    assert [type(m).__name__ for m in relu.layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "Sigmoid"]
    assert [type(m).__name__ for m in sigmoid.layers] == ["Linear", "Sigmoid"] * 3


def test_diabetes_unknown_activation_is_named() -> None:
    with pytest.raises(ValueError, match=r"activation 'tanh' is not one of \['relu', 'sigmoid'\]"):
        build_model("diabetes-mlp", activation="tanh")


@pytest.mark.parametrize("architecture", HELLO_ARCHITECTURES)
@pytest.mark.parametrize(("batch", "length"), [(1, 1), (1, 5), (3, 7)])
def test_hello_models_map_tokens_to_per_position_logits(architecture: str, batch: int, length: int) -> None:
    model = build_model(architecture).eval()
    with torch.inference_mode():
        logits = model(torch.randint(0, 4, (batch, length)))
    assert logits.shape == (batch, length, 4)
    assert logits.dtype == torch.float32


@pytest.mark.parametrize("architecture", HELLO_ARCHITECTURES)
def test_hello_models_are_causal(architecture: str) -> None:
    """A position's output depends only on the characters up to it, so right-padding a shorter
    string in a batch leaves its own outputs unchanged."""
    torch.manual_seed(0)
    model = build_model(architecture).eval()
    prefix = torch.tensor([[1, 0, 2]])
    with torch.inference_mode():
        alone = model(prefix)
        extended = model(torch.tensor([[1, 0, 2, 2, 3], [1, 0, 2, 0, 0]]))
    torch.testing.assert_close(extended[:, :3], alone.expand(2, 3, 4), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("architecture", HELLO_ARCHITECTURES)
def test_hello_models_script_to_the_same_logits(architecture: str) -> None:
    torch.manual_seed(1)
    model = build_model(architecture).eval()
    tokens = torch.tensor([[1, 0, 2, 2, 3], [3, 2, 2, 0, 1]])
    with torch.inference_mode(False), torch.no_grad():
        scripted = torch.jit.script(model)
        torch.testing.assert_close(scripted(tokens), model(tokens), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("architecture", ["hello-rnncell", "hello-rnn"])
def test_hello_hidden_size_is_the_vocabulary_size(architecture: str) -> None:
    """As in the course: the hidden state is the output, one value per vocabulary character."""
    model = build_model(architecture, vocab_size=6)
    assert {p.shape[0] for name, p in model.named_parameters() if name.startswith(("cell.bias", "rnn.bias"))} == {6}


def test_binary_probabilities() -> None:
    p = torch.tensor([[0.25], [1.0], [0.0]])
    assert binary_probabilities(p).tolist() == [[0.75, 0.25], [0.0, 1.0], [1.0, 0.0]]


def test_per_position_probabilities_sum_to_one_per_position() -> None:
    logits = torch.randn(2, 5, 4)
    probabilities = per_position_probabilities(logits)
    assert probabilities.shape == (2, 5, 4)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(2, 5))
    assert torch.equal(probabilities.argmax(-1), logits.argmax(-1))
