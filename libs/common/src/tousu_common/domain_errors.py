"""The errors a caller can cause, as the domain raises them.

No web framework here: :mod:`tousu_common.errors` maps them to 4xx JSON bodies
(and re-exports them), so domain modules can raise them without importing
FastAPI (issue 16, ``tests/test_architecture.py``).
"""

from __future__ import annotations

from typing import Self

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "TousuError",
    "Unauthenticated",
]


class TousuError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []

    @classmethod
    def about(cls, field: str, problem: str) -> Self:
        """The error about one field: message ``"<field>: <problem>"`` and that field."""
        return cls(f"{field}: {problem}", fields=[{"field": field, "problem": problem}])


class Unauthenticated(TousuError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(TousuError):
    status_code = 403
    code = "forbidden"


class NotFound(TousuError):
    status_code = 404
    code = "not_found"


class Conflict(TousuError):
    status_code = 409
    code = "conflict"


class InvalidInput(TousuError):
    status_code = 422
    code = "validation_error"


class PayloadTooLarge(TousuError):
    status_code = 413
    code = "payload_too_large"
