"""The V2 wire format on its own: bytes in, tensors out, and back."""

import gzip
import json
import struct
import zlib
from typing import Any

import numpy as np
import pytest

from service.api.v2.codec import (
    OutputTensor,
    decode_request,
    decompress,
    encode_response,
    parse_header_length,
    serialize_bytes,
)
from service.runtime.errors import InputTooLargeError, InvalidInputError
from tests.service.api.v2.wire import binary_body, bytes_elements


def decode_json(header: dict[str, Any]) -> Any:
    return decode_request(json.dumps(header).encode(), None)


def one_input(name: str, datatype: str, shape: list[int], data: Any) -> dict[str, Any]:
    return {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}


def test_json_numbers_flat_or_nested_become_arrays_of_the_declared_shape() -> None:
    flat = decode_json(one_input("x", "UINT8", [2, 3], [0, 1, 2, 3, 4, 255]))
    nested = decode_json(one_input("x", "UINT8", [2, 3], [[0, 1, 2], [3, 4, 255]]))
    for request in (flat, nested):
        (tensor,) = request.inputs
        assert tensor.data.dtype == np.uint8 and tensor.data.shape == (2, 3) and not tensor.binary
        assert tensor.data.tolist() == [[0, 1, 2], [3, 4, 255]]
    floats = decode_json(one_input("x", "FP32", [2], [1, 0.5])).inputs[0].data
    assert floats.dtype == np.float32 and floats.tolist() == [1.0, 0.5]


def test_binary_numbers_are_read_little_endian_without_copying_per_element() -> None:
    values = np.arange(12, dtype="<f4").reshape(3, 4) / 7
    labels = np.array([1, -2], dtype="<i8")
    body, headers = binary_body([("a", "FP32", [3, 4], values.tobytes()), ("b", "INT64", [2], labels.tobytes())])
    request = decode_request(body, parse_header_length(headers["Inference-Header-Content-Length"]))
    a, b = request.inputs
    assert a.binary and b.binary
    np.testing.assert_array_equal(a.data, values)
    np.testing.assert_array_equal(b.data, labels)


def test_bytes_elements_in_binary_and_json() -> None:
    items = [b"Nakamura", "Dvořák".encode(), b"", b"\x00\xff"]
    body, headers = binary_body([("names", "BYTES", [4], bytes_elements(items))])
    assert decode_request(body, int(headers["Inference-Header-Content-Length"])).inputs[0].data == items
    json_request = decode_json(one_input("names", "BYTES", [2], ["Nakamura", "Иванов"]))
    assert json_request.inputs[0].data == [b"Nakamura", "Иванов".encode()]


def test_outputs_parameters_and_id() -> None:
    request = decode_json(
        {
            "id": "r-1",
            "parameters": {"binary_data_output": True, "custom": 3},
            **one_input("x", "UINT8", [1], [7]),
            "outputs": [
                {"name": "label", "parameters": {"binary_data": False}},
                {"name": "p", "parameters": {"classification": 2}},
            ],
        }
    )
    assert request.id == "r-1" and request.binary_output and request.parameters["custom"] == 3
    assert request.outputs is not None
    assert [(o.name, o.binary, o.classification) for o in request.outputs] == [("label", False, 0), ("p", True, 2)]
    assert decode_json(one_input("x", "UINT8", [1], [7])).outputs is None


def b(value: Any) -> bytes:
    return json.dumps(value).encode()


HEADER = {"inputs": [{"name": "x", "datatype": "UINT8", "shape": [2], "parameters": {"binary_data_size": 2}}]}
NAMES = {"inputs": [{"name": "n", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 10}}]}


@pytest.mark.parametrize(
    ("body", "header_length", "fragment"),
    [
        (b"{not json", None, "not valid JSON"),
        (b(HEADER) + b"\x01\x02", len(b(HEADER)) + 5, "Inference-Header-Content-Length is"),
        (b(HEADER) + b"\x01", len(b(HEADER)), "overruns"),
        (b(HEADER) + b"\x01\x02\x03", len(b(HEADER)), "1 bytes after the JSON header belong to no input"),
        (b(HEADER) + b"\x01\x02", None, "not valid JSON"),  # binary data without the header length
        (b({"inputs": []}), None, "inputs: List should have at least 1 item"),
        (b({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [-1], "data": []}]}), None, "greater than or equal"),
        (b({"inputs": [{"name": "x", "datatype": "UINT8", "shape": ["2"], "data": [1, 2]}]}), None, "shape[0]"),
        (b({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [1]}], "extra": 1}), None, "extra"),
        (b(one_input("x", "FP8", [1], [1])), None, "unknown or unsupported datatype 'FP8'"),
        (b(one_input("x", "UINT8", [3], [1, 2])), None, "data has 2 values, but shape [3] needs 3"),
        (b(one_input("x", "UINT8", [2], [1, 300])), None, "integers from 0 to 255"),
        (b(one_input("x", "UINT8", [2], [1, -1])), None, "integers from 0 to 255"),
        (b(one_input("x", "UINT8", [2], [1, 2.5])), None, "integers from 0 to 255"),
        (b(one_input("x", "INT64", [2], [True, False])), None, "integers"),
        (b(one_input("x", "FP32", [2], [1, "a"])), None, "numbers (FP32)"),
        (b(one_input("x", "FP32", [2, 2], [[1, 2], [3]])), None, "rectangular"),
        (b(one_input("x", "BYTES", [2], ["a", 1])), None, "BYTES data in JSON must be strings"),
        (b({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1]}]}), None, "no data"),
        (b({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [1]}] * 2}), None, "given twice"),
        (b({**one_input("x", "UINT8", [1], [1]), "outputs": [{"name": "y"}, {"name": "y"}]}), None, "given twice"),
        (
            b({**one_input("x", "UINT8", [1], [1]), "outputs": [{"name": "y", "parameters": {"classification": -1}}]}),
            None,
            "classification must be a whole number",
        ),
        (
            b({**one_input("x", "UINT8", [1], [1]), "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]}),
            None,
            "binary_data must be true or false",
        ),
        (
            b(
                {
                    "inputs": [
                        {"name": "x", "datatype": "UINT8", "shape": [1], "parameters": {"shared_memory_region": "r"}}
                    ]
                }
            ),
            None,
            "shared memory is not supported",
        ),
        # A BYTES element whose length prefix runs past the data, or a truncated prefix.
        (b(NAMES) + struct.pack("<I", 1) + b"a" + struct.pack("<I", 99) + b"b", len(b(NAMES)), "declares 99 bytes"),
        (
            b(NAMES) + struct.pack("<I", 1) + b"a" + struct.pack("<I", 2) + b"b",
            len(b(NAMES)),
            "declares 2 bytes but only 1",
        ),
        (b(NAMES) + struct.pack("<I", 3) + b"abc" + b"\x01\x00\x00", len(b(NAMES)), "truncated 4-byte length"),
        (b(NAMES) + struct.pack("<I", 6) + b"abcdef", len(b(NAMES)), "1 BYTES elements sent, but the shape needs 2"),
    ],
)
def test_malformed_requests_say_what_is_wrong(body: bytes, header_length: int | None, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        decode_request(body, header_length)
    assert fragment in str(caught.value)


def test_binary_size_must_match_the_shape() -> None:
    body, headers = binary_body([("x", "UINT8", [1, 28, 28], bytes(700))])
    with pytest.raises(InvalidInputError, match="700 bytes of data, but shape \\[1, 28, 28\\] of UINT8 needs 784"):
        decode_request(body, int(headers["Inference-Header-Content-Length"]))


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_header_length_must_be_a_byte_count(value: str) -> None:
    with pytest.raises(InvalidInputError, match="Inference-Header-Content-Length"):
        parse_header_length(value)


def test_json_response_is_row_major_and_binary_response_is_header_then_tensors() -> None:
    probabilities = np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32)
    outputs = [
        OutputTensor("p", "FP32", (2, 2), probabilities, binary=False),
        OutputTensor("label", "BYTES", (2,), ["b", "ä"], binary=False),
    ]
    body, length = encode_response("m", "1", "id-7", outputs)
    assert length is None
    assert json.loads(body) == {
        "model_name": "m",
        "model_version": "1",
        "id": "id-7",
        "outputs": [
            {"name": "p", "datatype": "FP32", "shape": [2, 2], "data": [0.25, 0.75, 1.0, 0.0]},
            {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["b", "ä"]},
        ],
    }
    binary = [OutputTensor(o.name, o.datatype, o.shape, o.data, binary=True) for o in outputs]
    body, length = encode_response("m", "1", None, binary)
    assert length is not None
    header = json.loads(body[:length])
    assert "id" not in header
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [16, 4 + 1 + 4 + 2]
    assert body[length:] == probabilities.astype("<f4").tobytes() + serialize_bytes([b"b", "ä".encode()])


def test_decompress_gzip_and_deflate_within_the_limit() -> None:
    data = b"x" * 5000
    assert decompress(data, None, 100) == data  # not compressed: the middleware limits it
    assert decompress(gzip.compress(data), "gzip", 5000) == data
    assert decompress(zlib.compress(data), "deflate", 5000) == data
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decompress(raw.compress(data) + raw.flush(), "deflate", 5000) == data


def test_decompress_refuses_bombs_and_garbage() -> None:
    bomb = gzip.compress(bytes(10_000_000))
    assert len(bomb) < 20_000
    with pytest.raises(InputTooLargeError, match="inflates to more than the 4096 byte limit"):
        decompress(bomb, "gzip", 4096)
    with pytest.raises(InvalidInputError, match="not valid gzip"):
        decompress(b"plain text", "gzip", 4096)
    with pytest.raises(InvalidInputError, match="truncated"):
        decompress(gzip.compress(b"abc" * 100)[:-12], "gzip", 4096)
    with pytest.raises(InvalidInputError, match="not supported"):
        decompress(b"abc", "br", 4096)


# ---- counts are checked before the data is walked (issue #23) ----


def bytes_body(shape: list[int], elements: int) -> tuple[bytes, int]:
    """A binary BYTES input of ``elements`` zero-length elements: 4 bytes each, cheap to send, costly to walk."""
    header = json.dumps(
        {
            "inputs": [
                {"name": "x", "datatype": "BYTES", "shape": shape, "parameters": {"binary_data_size": 4 * elements}}
            ]
        }
    ).encode()
    return header + bytes(4 * elements), len(header)


def json_numbers_body(shape: list[int], values: int, nested: bool = False) -> bytes:
    """``values`` zeros as JSON data; flat ones end in a list, which numpy would refuse only after reading them all."""
    data = b"[" + b",".join([b"0"] * values) + (b"]" if nested else b",[0]]")
    if nested:
        data = b"[" + data + b"]"
    return b'{"inputs":[{"name":"x","datatype":"FP32","shape":%s,"data":%s}]}' % (json.dumps(shape).encode(), data)


def test_two_million_bytes_elements_for_a_shape_of_one_are_refused_at_the_first_extra() -> None:
    body, header_length = bytes_body([1], 2_000_000)
    with pytest.raises(InvalidInputError, match=r"more BYTES elements sent than the 1 the shape needs \(7999996 bytes"):
        decode_request(body, header_length)


def test_a_bytes_shape_over_the_element_limit_is_refused_before_the_data() -> None:
    body, header_length = bytes_body([2_000_000], 2_000_000)
    with pytest.raises(InputTooLargeError, match=r"shape \[2000000\] has 2000000 BYTES elements; at most 65536"):
        decode_request(body, header_length)


def test_bytes_elements_too_short_for_their_count_are_refused_before_the_data() -> None:
    body, header_length = bytes_body([1000], 10)
    with pytest.raises(
        InvalidInputError, match="needs 1000 BYTES elements, at least 4000 bytes, but binary_data_size is 40"
    ):
        decode_request(body, header_length)


@pytest.mark.parametrize(("nested", "sent"), [(False, "4000001"), (True, "more than 784")], ids=["flat", "nested"])
def test_millions_of_json_values_for_a_small_shape_are_refused_before_conversion(nested: bool, sent: str) -> None:
    """A flat list is counted by its length; nested lists are counted until they pass the shape's count."""
    with pytest.raises(InvalidInputError, match=rf"data has {sent} values, but shape \[1, 784\] needs 784"):
        decode_request(json_numbers_body([1, 784], 4_000_000, nested), None)


def test_a_json_shape_over_the_value_limit_is_refused_before_conversion() -> None:
    with pytest.raises(InputTooLargeError, match=r"has 4000000 values; at most 1048576 are accepted as JSON data"):
        decode_request(json_numbers_body([1, 4_000_000], 4_000_000), None)


def test_json_bytes_with_more_values_than_the_shape_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="data has more than 2 values, but the shape needs 2"):
        decode_json(one_input("x", "BYTES", [2], [["a", "b"], ["c"]]))
