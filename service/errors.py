"""Domain errors: raised by the core, mapped to HTTP statuses in one place (service.error_handlers).

Each carries a message fit for the client and, where one is at fault, the request field's name.
"""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotReady(ServiceError):
    """No bundle is loaded and warmed yet."""


class BodyTooLarge(ServiceError):
    """The request body exceeds the configured byte limit."""


class TooManyCandidates(ServiceError):
    """More candidates than the configured per-request limit."""


class UnknownCandidates(ServiceError):
    """Strict mode: some candidates are not in the bundle."""


class InvalidUserFeatures(ServiceError):
    """`user_features` names a column the user tower does not read, or a value of the wrong type."""


class Forbidden(ServiceError):
    """An admin route without the right token."""


class BundleRefused(ServiceError):
    """A forced reload found a bundle that does not verify or load; the old one keeps serving."""
