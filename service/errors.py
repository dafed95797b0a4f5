"""Domain errors: raised by the core, each with the HTTP status it answers (service.error_handlers
writes the response).

Each carries a message fit for the client and, where one is at fault, the request field's name.
A subclass that names no status fails at import, not with a 500 on its first request.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    status: ClassVar[int]  # the HTTP status of the response

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "status" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} names no HTTP status")


class NotReady(ServiceError):
    """No bundle is loaded and warmed yet."""

    status = 503


class BodyTooLarge(ServiceError):
    """The request body exceeds the configured byte limit."""

    status = 413


class TooManyCandidates(ServiceError):
    """More candidates than the configured per-request limit."""

    status = 413


class UnknownCandidates(ServiceError):
    """Strict mode: some candidates are not in the bundle."""

    status = 422


class InvalidUserFeatures(ServiceError):
    """`user_features` names a column the user tower does not read, or a value of the wrong type."""

    status = 422


class Forbidden(ServiceError):
    """An admin route without the right token."""

    status = 403


class BundleRefused(ServiceError):
    """A forced reload found a bundle that does not verify or load; the old one keeps serving."""

    status = 409
