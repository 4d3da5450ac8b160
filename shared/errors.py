"""Lupa's errors: a small typed hierarchy that knows nothing of HTTP.

Each error names its status, a stable slug (the problem ``type`` is ``urn:lupa:problem:<slug>``)
and a title. Domain and service code raise them; ``shared.problems`` maps them to RFC 9457
responses at the HTTP edge, in one place.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LupaError(Exception):
    """A failure the client can understand; subclasses fix status, type and title."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    closes_connection: ClassVar[bool] = False  # answered with ``Connection: close``

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class InvalidInput(LupaError):
    status, slug, title = 422, "invalid-input", "The request is not valid"


class NotFound(LupaError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(LupaError):
    status, slug, title = 409, "conflict", "Conflict"


class Unauthorized(LupaError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(LupaError):
    status, slug, title = 403, "forbidden", "Not allowed for this token"


class UnboundPortalToken(Forbidden):
    """A portal token without a subject: the portal backend's credential, which may only be
    exchanged for a subject-bound token (``POST /v1/token``)."""

    slug, title = "unbound-portal-token", "A portal token without a subject only exchanges"


class PreconditionFailed(LupaError):
    status, slug, title = 412, "precondition-failed", "The resource has changed"


class PreconditionRequired(LupaError):
    status, slug, title = 428, "precondition-required", "If-Match is required"


class PayloadTooLarge(LupaError):
    status, slug, title = 413, "payload-too-large", "The request is too large"


class RateLimited(LupaError):
    """Answered with ``Retry-After`` (seconds), also given as the ``retry_after`` member."""

    status, slug, title = 429, "rate-limited", "Too many requests"


class Unavailable(LupaError):
    status, slug, title = 503, "unavailable", "Temporarily unavailable"


# Idempotency keys and signed links, which every service may use.


class IdempotencyKeyReused(LupaError):
    status, slug, title = (
        422,
        "idempotency-key-reused",
        "The Idempotency-Key was used for another request",
    )


class IdempotencyInProgress(LupaError):
    status, slug, title = (
        409,
        "idempotency-in-progress",
        "A request with this Idempotency-Key is in progress",
    )


class InvalidLink(LupaError):
    status, slug, title = 400, "invalid-link", "The link is not valid"


class LinkExpired(LupaError):
    status, slug, title = 410, "link-expired", "The link has expired"
