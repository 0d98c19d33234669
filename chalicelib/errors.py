"""Errors as values with meaning.

Domain code raises these; exactly one place (``chalicelib.web.responses``) turns them into HTTP
responses with PocketBase 0.22's error body ``{"code", "message", "data"}``, so the frontend's
``alertOnFailure`` keeps working and no handler has to know about status codes.
"""

from __future__ import annotations

from typing import Any

FieldErrors = dict[str, dict[str, str]]


class ApiError(Exception):
    """Base of every error a client may see; ``status`` is the HTTP status it maps to."""

    status = 400
    default_message = "Something went wrong while processing your request."

    def __init__(self, message: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.data: dict[str, Any] = data or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"code": self.status, "message": self.message, "data": self.data}


class BadRequest(ApiError):
    status = 400


class Invalid(BadRequest):
    """Per-field validation failure, shaped like PocketBase's ``validation.Errors``."""

    def __init__(self, message: str, fields: FieldErrors) -> None:
        super().__init__(message, dict(fields))


class Unauthorized(ApiError):
    status = 401
    default_message = "The request requires valid record authorization token to be set."


class Forbidden(ApiError):
    status = 403
    default_message = "You are not allowed to perform this request."


class NotFound(ApiError):
    status = 404
    default_message = "The requested resource wasn't found."


class Conflict(ApiError):
    status = 409
    default_message = "The resource was changed by another request. Please try again."


class PayloadTooLarge(ApiError):
    status = 413
    default_message = "Request entity too large."


class TooManyRequests(ApiError):
    status = 429
    default_message = "Too many requests."


class ServiceUnavailable(ApiError):
    status = 503
    default_message = "The service is temporarily unavailable. Please try again later."


class ConfigError(Exception):
    """A setting is missing or malformed; raised at start so a bad deploy fails loudly."""


def field_error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}
