"""Lambda's REST wire, as the emulator speaks it: error responses (status, `x-amzn-ErrorType`,
`{"Type": "User", ...}` body) and reading JSON bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import JsonRESTError


class LambdaApiError(JsonRESTError):
    """A Lambda error response: status, `x-amzn-ErrorType` header, `{"Type": "User", ...}` body.

    Raised inside a moto handler it is rendered by moto's `call_action`; `as_response()` renders it
    where nothing catches it (the throttle sits in front of `call_action`).
    """

    def __init__(
        self,
        error_type: str,
        status: int,
        message: str,
        *,
        body_extra: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error_type, message)
        self.code = status
        self.extra_headers = dict(headers or {})
        self.description = json.dumps({"Type": "User", "message": message, **(body_extra or {})})

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [
            ("x-amzn-ErrorType", self.error_type),
            ("Content-Type", "application/json"),
            *self.extra_headers.items(),
        ]

    def as_response(self) -> TYPE_RESPONSE:
        headers = dict(self.get_headers())
        headers["status"] = str(self.code)
        return self.code, headers, self.description


def invalid_parameter_value(message: str) -> LambdaApiError:
    return LambdaApiError("InvalidParameterValueException", 400, message)


def validation_error(message: str) -> LambdaApiError:
    return LambdaApiError("ValidationException", 400, message)


def resource_not_found(message: str) -> LambdaApiError:
    return LambdaApiError("ResourceNotFoundException", 404, message)


def too_many_requests(retry_after_seconds: int) -> LambdaApiError:
    """The control-plane throttle: 429, `Retry-After` header, reason `CallerRateLimitExceeded`."""
    seconds = str(max(1, retry_after_seconds))
    return LambdaApiError(
        "TooManyRequestsException",
        429,
        "Rate exceeded",
        body_extra={"Reason": "CallerRateLimitExceeded", "retryAfterSeconds": seconds},
        headers={"Retry-After": seconds},
    )


def access_denied(message: str) -> LambdaApiError:
    return LambdaApiError("AccessDeniedException", 403, message)


def _json_object(text: Any) -> dict[str, Any] | None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
