"""V2 tensors on the wire: JSON ``data`` and Triton's binary tensor data extension, both ways.

A binary request is a JSON header of ``Inference-Header-Content-Length`` bytes followed
by each binary input's raw bytes, in input order, sized by its ``binary_data_size``
parameter. Numbers are little-endian in row-major order; a BYTES element is a 4-byte
little-endian length followed by that many bytes. Responses use the same layout for
the outputs a client asks to get in binary.

Pure functions over bytes and numpy arrays (no HTTP): errors are the runtime's
``InvalidInputError`` (400) and ``InputTooLargeError`` (413), with messages that say
which tensor is wrong and how.
"""

import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from pydantic import ValidationError

from service.api.v2.schemas import InferenceRequest, RequestInput
from service.runtime.errors import InputTooLargeError, InvalidInputError
from service.runtime.tensors import BYTES, InputTensor, OutputTensor, RequestedOutput

# V2 datatype -> the numpy dtype of its wire format (little-endian); BYTES is handled apart.
NUMERIC_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
DATATYPES = (*NUMERIC_DTYPES, BYTES)
# Most values one tensor may send as JSON data, and most BYTES elements: each costs Python work
# on the event loop (a JSON number becomes a Python object, then an array element; BYTES elements
# are cut out one at a time), so counts are checked against the shape and these before any of it.
# Numbers sent as binary tensor data are read in one step and have no limit but the body's.
MAX_JSON_VALUES = 1 << 20
MAX_BYTES_ELEMENTS = 1 << 16
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class DecodedRequest:
    id: str | None
    inputs: list[InputTensor]
    outputs: list[RequestedOutput] | None  # None: every output
    binary_output: bool  # the request's binary_data_output, for outputs it does not list
    parameters: dict[str, Any]


# ---- request body ----


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo a gzip or deflate Content-Encoding, refusing (413) to inflate past ``limit`` bytes."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, coding)
    if coding == "deflate":  # HTTP's "deflate" is the zlib format; some clients send raw deflate
        try:
            return _inflate(body, zlib.MAX_WBITS, limit, coding)
        except InvalidInputError:
            return _inflate(body, -zlib.MAX_WBITS, limit, coding)
    raise InvalidInputError(f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or no encoding")


def _inflate(body: bytes, wbits: int, limit: int, coding: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit + 1)  # never holds more than limit + 1 bytes
    except zlib.error:
        raise InvalidInputError(f"the body is not valid {coding} data") from None
    if len(data) > limit:
        raise InputTooLargeError(f"the {coding} body inflates to more than the {limit} byte limit")
    if not inflater.eof:
        raise InvalidInputError(f"the {coding} body is truncated")
    if inflater.unused_data:
        raise InvalidInputError(f"{len(inflater.unused_data)} bytes follow the end of the {coding} stream")
    return data


def parse_header_length(value: str | None) -> int | None:
    """The Inference-Header-Content-Length header: the JSON part's size in bytes, or None."""
    if value is None:
        return None
    try:
        length = int(value.strip())
    except ValueError:
        raise InvalidInputError(f"Inference-Header-Content-Length must be a byte count, got {value!r}") from None
    if length < 0:
        raise InvalidInputError(f"Inference-Header-Content-Length must not be negative, got {length}")
    return length


def decode_request(body: bytes, header_length: int | None) -> DecodedRequest:
    """Split ``body`` into its JSON header and binary part, and decode every input tensor."""
    if header_length is None:
        header_length = len(body)
    if header_length > len(body):
        raise InvalidInputError(
            f"Inference-Header-Content-Length is {header_length} but the body has only {len(body)} bytes"
        )
    view = memoryview(body)
    try:
        request = InferenceRequest.model_validate_json(body if header_length == len(body) else body[:header_length])
    except ValidationError as exc:
        raise InvalidInputError(_describe(exc)) from None
    inputs = _decode_inputs(request.inputs, view[header_length:])
    binary_output = _bool_parameter(request.parameters, "binary_data_output", "parameters", default=False)
    outputs = None
    if request.outputs is not None:
        outputs = []
        for i, output in enumerate(request.outputs):
            where = f"outputs[{i}] ({output.name!r})"
            if "shared_memory_region" in output.parameters:
                raise InvalidInputError(f"{where}: shared memory is not supported; omit shared_memory_region")
            binary = _bool_parameter(output.parameters, "binary_data", where, default=binary_output)
            k = _int_parameter(output.parameters, "classification", where, default=0, minimum=0)
            outputs.append(RequestedOutput(output.name, binary, k))
        _check_unique([o.name for o in outputs], "outputs")
    return DecodedRequest(request.id, inputs, outputs, binary_output, request.parameters)


def _decode_inputs(inputs: list[RequestInput], binary: memoryview) -> list[InputTensor]:
    _check_unique([tensor.name for tensor in inputs], "inputs")
    decoded, offset = [], 0
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}] ({tensor.name!r})"
        if tensor.datatype not in DATATYPES:
            raise InvalidInputError(
                f"{where}: unknown or unsupported datatype {tensor.datatype!r}; use one of {', '.join(DATATYPES)}"
            )
        data: np.ndarray | list[bytes]
        if "shared_memory_region" in tensor.parameters:
            raise InvalidInputError(f"{where}: shared memory is not supported; send the data in the body")
        shape, count = tuple(tensor.shape), math.prod(tensor.shape)
        size = _int_parameter(tensor.parameters, "binary_data_size", where, default=-1, minimum=0)
        _check_count(count, shape, tensor.datatype, size >= 0, where)
        if size >= 0:
            if tensor.data is not None:
                raise InvalidInputError(f"{where}: give either data or binary_data_size, not both")
            if offset + size > len(binary):
                raise InvalidInputError(
                    f"{where}: binary_data_size {size} at offset {offset} overruns the {len(binary)} bytes "
                    "after the JSON header (check Inference-Header-Content-Length and binary_data_size)"
                )
            chunk = binary[offset : offset + size]
            offset += size
            if tensor.datatype == BYTES:
                data = _bytes_from_binary(chunk, count, where)
            else:
                data = _numbers_from_binary(chunk, tensor.datatype, shape, where)
        elif tensor.data is None:
            raise InvalidInputError(f"{where}: no data; give data, or binary_data_size with the bytes after the header")
        elif tensor.datatype == BYTES:
            data = _bytes_from_json(tensor.data, count, where)
        else:
            data = _numbers_from_json(tensor.data, tensor.datatype, shape, where)
        decoded.append(InputTensor(tensor.name, tensor.datatype, shape, data, size >= 0))
    if offset != len(binary):
        raise InvalidInputError(
            f"{len(binary) - offset} bytes after the JSON header belong to no input "
            "(the inputs' binary_data_size add up to less than the body holds)"
        )
    return decoded


def _numbers_from_binary(chunk: memoryview, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    dtype = NUMERIC_DTYPES[datatype]
    needed = math.prod(shape) * dtype.itemsize
    if len(chunk) != needed:
        raise InvalidInputError(
            f"{where}: {len(chunk)} bytes of data, but shape {list(shape)} of {datatype} needs {needed} bytes"
        )
    return np.frombuffer(chunk, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _check_count(count: int, shape: tuple[int, ...], datatype: str, binary: bool, where: str) -> None:
    if datatype == BYTES and count > MAX_BYTES_ELEMENTS:
        raise InputTooLargeError(
            f"{where}: shape {list(shape)} has {count} BYTES elements; at most {MAX_BYTES_ELEMENTS} are accepted "
            "in one tensor (split the request)"
        )
    if not binary and count > MAX_JSON_VALUES:
        raise InputTooLargeError(
            f"{where}: shape {list(shape)} has {count} values; at most {MAX_JSON_VALUES} are accepted as JSON data "
            "(send them as binary tensor data, or split the request)"
        )


def _check_json_count(data: Any, needed: int, where: str, what: str) -> None:
    """Refuse more values than the shape needs before converting any: a cheap count of list lengths.
    Fewer values cost no more than a correct tensor; the conversion says what is wrong with them."""
    sent, complete = _count_values(data, needed)
    if sent > needed:
        raise InvalidInputError(f"{where}: data has {sent if complete else f'more than {needed}'} values, but {what}")


def _count_values(data: Any, limit: int) -> tuple[int, bool]:
    """Values in a flat or nested list (a list of non-lists counts by its length), and whether the
    count is exact: it stops once past ``limit``."""
    if not isinstance(data, list):
        return 1, True
    if not data or not isinstance(data[0], list):
        return len(data), True
    total = 0
    for item in data:
        count, complete = _count_values(item, limit - total)
        total += count
        if not complete or total > limit:
            return total, False
    return total, True


def _numbers_from_json(data: Any, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    dtype = NUMERIC_DTYPES[datatype]
    needed = math.prod(shape)
    _check_json_count(data, needed, where, f"shape {list(shape)} needs {needed}")
    try:
        array = np.asarray(data)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{where}: data is not a flat (or rectangular nested) list of numbers") from None
    needed = math.prod(shape)
    if array.size != needed:
        raise InvalidInputError(f"{where}: data has {array.size} values, but shape {list(shape)} needs {needed}")
    if array.size:
        kind = array.dtype.kind
        if dtype.kind == "b":
            fits = kind == "b"
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            fits = kind in "iu" and int(array.min()) >= info.min and int(array.max()) <= info.max
        else:
            fits = kind in "iuf"
        if not fits:
            raise InvalidInputError(f"{where}: data must hold {_describe_datatype(datatype)}")
    with np.errstate(over="ignore"):  # 1e300 as FP32 is inf: the model's adapter decides about non-finite input
        return array.astype(dtype.newbyteorder("=")).reshape(shape)


def _bytes_from_binary(chunk: memoryview, count: int, where: str) -> list[bytes]:
    """4-byte little-endian length + bytes, ``count`` times, filling ``chunk`` exactly."""
    elements: list[bytes] = []
    position, end = 0, len(chunk)
    if 4 * count > end:
        raise InvalidInputError(
            f"{where}: the shape needs {count} BYTES elements, at least {4 * count} bytes, "
            f"but binary_data_size is {end}"
        )
    while position < end:
        if len(elements) == count:
            raise InvalidInputError(
                f"{where}: more BYTES elements sent than the {count} the shape needs "
                f"({end - position} bytes follow element {count - 1})"
            )
        if position + 4 > end:
            raise InvalidInputError(f"{where}: BYTES element {len(elements)} has a truncated 4-byte length")
        (length,) = _LENGTH.unpack_from(chunk, position)
        position += 4
        if position + length > end:
            raise InvalidInputError(
                f"{where}: BYTES element {len(elements)} declares {length} bytes but only {end - position} remain"
            )
        elements.append(bytes(chunk[position : position + length]))
        position += length
    if len(elements) != count:
        raise InvalidInputError(f"{where}: {len(elements)} BYTES elements sent, but the shape needs {count}")
    return elements


def _bytes_from_json(data: Any, count: int, where: str) -> list[bytes]:
    _check_json_count(data, count, where, f"the shape needs {count}")
    flat: list[Any] = []
    _flatten(data, flat)
    if len(flat) != count:
        raise InvalidInputError(f"{where}: data has {len(flat)} values, but the shape needs {count}")
    if not all(isinstance(value, str) for value in flat):
        raise InvalidInputError(f"{where}: BYTES data in JSON must be strings")
    return [value.encode() for value in flat]


def _flatten(data: Any, into: list[Any]) -> None:
    if isinstance(data, list):
        for item in data:
            _flatten(item, into)
    else:
        into.append(data)


# ---- response body ----


def encode_response(
    model_name: str, model_version: str, request_id: str | None, outputs: Sequence[OutputTensor]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when some output is binary (else None)."""
    entries, buffers = [], []
    for output in outputs:
        entry: dict[str, Any] = {"name": output.name, "datatype": output.datatype, "shape": list(output.shape)}
        if output.binary:
            raw = _to_binary(output)
            entry["parameters"] = {"binary_data_size": len(raw)}
            buffers.append(raw)
        elif isinstance(output.data, np.ndarray):
            entry["data"] = np.ascontiguousarray(output.data).ravel()
        else:
            entry["data"] = list(output.data)
        entries.append(entry)
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        body["id"] = request_id
    body["outputs"] = entries
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if not buffers:
        return header, None
    return b"".join([header, *buffers]), len(header)


def _to_binary(output: OutputTensor) -> bytes:
    if output.datatype == BYTES:
        return serialize_bytes([value.encode() for value in output.data])
    assert isinstance(output.data, np.ndarray)
    return np.ascontiguousarray(output.data, dtype=NUMERIC_DTYPES[output.datatype]).tobytes()


def serialize_bytes(elements: Sequence[bytes]) -> bytes:
    """BYTES elements in the binary format: each a 4-byte little-endian length, then its bytes."""
    return b"".join(_LENGTH.pack(len(element)) + element for element in elements)


# ---- helpers ----


def _check_unique(names: list[str], what: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise InvalidInputError(f"{what}: {name!r} is given twice")
        seen.add(name)


def _bool_parameter(parameters: Mapping[str, Any], key: str, where: str, *, default: bool) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInputError(f"{where}: parameter {key} must be true or false, got {value!r}")
    return value


def _int_parameter(parameters: Mapping[str, Any], key: str, where: str, *, default: int, minimum: int) -> int:
    if key not in parameters:
        return default
    value = parameters[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{where}: parameter {key} must be a whole number >= {minimum}, got {value!r}")
    return value


def _describe_datatype(datatype: str) -> str:
    if datatype == "BOOL":
        return "true/false values"
    dtype = NUMERIC_DTYPES[datatype]
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return f"integers from {info.min} to {info.max} ({datatype})"
    return f"numbers ({datatype})"


def _describe(exc: ValidationError, limit: int = 3) -> str:
    """'inputs[0].shape[1]: Input should be a valid integer; ...' for a bad JSON header."""
    errors = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        return (
            "the inference request header is not valid JSON (with binary data, check Inference-Header-Content-Length)"
        )
    parts = []
    for error in errors[:limit]:
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        parts.append(f"{path}: {error['msg']}" if path else str(error["msg"]))
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "invalid inference request: " + "; ".join(parts) + more
