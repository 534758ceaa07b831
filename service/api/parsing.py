"""Reading a JSON body into a request model in one pydantic-core pass."""

from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from service.api.errors import InvalidJSONError, UnsupportedMediaTypeError
from service.runtime.errors import UnprocessableInputError

ModelT = TypeVar("ModelT", bound=BaseModel)
# More schema errors than this are counted, not listed: pydantic builds each one as a dict.
MAX_LISTED_ERRORS = 100


async def parse_json_body(request: Request, model: type[ModelT], upload_hint: str | None = None) -> ModelT:
    """Validate the raw body as ``model``. The size limit is enforced by the middleware."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/"):
        hint = f"; send files to {upload_hint}" if upload_hint else ""
        raise UnsupportedMediaTypeError(f"this endpoint takes a JSON body (application/json){hint}")
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        count = exc.error_count()
        if count > MAX_LISTED_ERRORS:  # e.g. 100,000 unknown keys: listing them would stall the event loop
            raise UnprocessableInputError(f"the body breaks the request schema in {count} places; see /docs") from None
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise InvalidJSONError("the request body is not valid JSON") from None
        raise
