"""The JSON part of a V2 inference request, and the metadata tensor description.

Tensor ``data`` stays ``Any`` here: numbers are checked and converted by numpy in the
codec, never element by element in Python.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Dimension = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestInput(_Request):
    name: str
    shape: list[Dimension]
    datatype: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: Any = None


class RequestOutput(_Request):
    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferenceRequest(_Request):
    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class TensorMetadata(BaseModel):
    """One input or output in model metadata; -1 marks a variable dimension (the batch)."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]
