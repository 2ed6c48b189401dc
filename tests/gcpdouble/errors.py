"""Google's error shape: ``{"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}``."""

from __future__ import annotations

from typing import Any

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    409: "The request was aborted because of a conflict.",
    429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'.",
    503: "The service is currently unavailable.",
}

# google.rpc.Code numbers (an operation's ``error.code`` uses them, not HTTP codes)
RPC_CODES = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "UNAVAILABLE": 14, "UNAUTHENTICATED": 16,
}


class ApiError(Exception):
    """An error reply: HTTP ``code``, Google's ``status`` name and a ``message``."""

    def __init__(self, code: int, message: str | None = None, status: str | None = None) -> None:
        self.code = code
        self.status = status or STATUS.get(code, "UNKNOWN")
        self.message = message or DEFAULT_MESSAGES.get(code, self.status)
        super().__init__(f"{code} {self.status}: {self.message}")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"Resource '{what}' was not found")


def invalid(message: str) -> ApiError:
    return ApiError(400, message)
