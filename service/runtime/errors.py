"""Domain errors raised by the runtime. The API layer maps each to one HTTP status."""


class RuntimeServiceError(Exception):
    """Base class; ``str(error)`` is a message fit to show a client."""


class InvalidInputError(RuntimeServiceError):
    """The input is well-formed JSON but cannot be used (undecodable image, no ink)."""


class InvalidJSONError(RuntimeServiceError):
    """The body is not JSON at all."""


class InputTooLargeError(RuntimeServiceError):
    """An image or body is over a configured size limit."""


class UnprocessableInputError(RuntimeServiceError):
    """The request is valid JSON but breaks a documented rule (wrong task, empty name, too many items)."""


class ModelNotFoundError(RuntimeServiceError):
    """No model of that name (or version) is configured."""


class ModelNotReadyError(RuntimeServiceError):
    """The model exists but is still loading or failed to load."""


class OverloadedError(RuntimeServiceError):
    """The model's queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeadlineExceededError(RuntimeServiceError):
    """The request waited longer than its deadline."""


class InferenceError(RuntimeServiceError):
    """The model's forward pass raised; only that batch's requests fail."""
