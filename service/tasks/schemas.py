"""What every task's request schema shares, and reading a JSON body into one in a single pass."""

from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from service.runtime.errors import InvalidJSONError, UnprocessableInputError

ModelT = TypeVar("ModelT", bound=BaseModel)
# More schema errors than this are counted, not listed: pydantic builds each one as a dict.
MAX_LISTED_ERRORS = 100


class StrictRequest(BaseModel):
    """A request body: unknown keys are errors, so a misspelt option is never silently ignored."""

    model_config = ConfigDict(extra="forbid")


@cache
def has_field(schema: type[BaseModel], name: str) -> bool:
    """Whether ``schema`` takes the key ``name`` (asked per request: cached, not read from pydantic)."""
    return name in schema.model_fields


def validate_json(schema: type[ModelT], body: bytes) -> ModelT:
    """``body`` validated as ``schema`` by pydantic-core, with errors a client can act on."""
    try:
        return schema.model_validate_json(body)
    except ValidationError as exc:
        count = exc.error_count()
        if count > MAX_LISTED_ERRORS:  # e.g. 100,000 unknown keys: listing them would stall the event loop
            raise UnprocessableInputError(f"the body breaks the request schema in {count} places; see /docs") from None
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise InvalidJSONError("the request body is not valid JSON") from None
        raise
