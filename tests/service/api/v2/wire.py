"""V2 bodies built and read by hand, as a client without tritonclient would (and as a benchmark can)."""

import json
import struct
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

NUMPY = {"UINT8": "<u1", "INT64": "<i8", "FP32": "<f4", "FP64": "<f8", "INT32": "<i4"}


def bytes_elements(items: Sequence[bytes]) -> bytes:
    """BYTES tensor data: each element a 4-byte little-endian length, then its bytes."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def binary_body(
    inputs: Sequence[tuple[str, str, Sequence[int], bytes]],
    outputs: Sequence[dict[str, Any]] | None = None,
    **fields: Any,
) -> tuple[bytes, dict[str, str]]:
    """(name, datatype, shape, raw bytes) inputs -> the body and its Inference-Header-Content-Length."""
    header: dict[str, Any] = {
        **fields,
        "inputs": [
            {"name": name, "datatype": dt, "shape": list(shape), "parameters": {"binary_data_size": len(raw)}}
            for name, dt, shape, raw in inputs
        ],
    }
    if outputs is not None:
        header["outputs"] = list(outputs)
    encoded = json.dumps(header).encode()
    return encoded + b"".join(raw for *_, raw in inputs), {"Inference-Header-Content-Length": str(len(encoded))}


def json_body(inputs: Sequence[tuple[str, str, Sequence[int], list[Any]]], **fields: Any) -> dict[str, Any]:
    return {
        **fields,
        "inputs": [{"name": n, "datatype": dt, "shape": list(shape), "data": data} for n, dt, shape, data in inputs],
    }


def read_outputs(response: httpx.Response) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the JSON header, outputs by name as numpy arrays or lists of str), JSON or binary."""
    assert response.status_code == 200, response.text
    content = response.content
    length = response.headers.get("inference-header-content-length")
    split = int(length) if length is not None else len(content)
    header = json.loads(content[:split])
    offset, outputs = split, {}
    for output in header["outputs"]:
        shape, datatype = output["shape"], output["datatype"]
        size = output.get("parameters", {}).get("binary_data_size")
        if size is None:
            data = output["data"]
            outputs[output["name"]] = (
                np.reshape(np.array(data, dtype=object), shape).tolist()
                if datatype == "BYTES"
                else np.asarray(data, dtype=NUMPY[datatype]).reshape(shape)
            )
            continue
        raw = content[offset : offset + size]
        offset += size
        if datatype == "BYTES":
            items, pos = [], 0
            while pos < len(raw):
                (n,) = struct.unpack_from("<I", raw, pos)
                items.append(raw[pos + 4 : pos + 4 + n].decode())
                pos += 4 + n
            outputs[output["name"]] = np.reshape(np.array(items, dtype=object), shape).tolist()
        else:
            outputs[output["name"]] = np.frombuffer(raw, dtype=NUMPY[datatype]).reshape(shape)
    assert offset == len(content), "every byte after the header belongs to an output"
    return header, outputs
