"""The one translation of botocore errors into the core's `Transient` and `ConditionFailed`.

Every adapter calls AWS through `call` (or inside `translated()`) and tests a lost condition
with `is_condition_failure`; nothing else in the package inspects a `ClientError`'s code for
these two meanings.

What counts as transient is botocore's own standard-retry-mode classification (throttling
codes of every service — DynamoDB's ProvisionedThroughputExceededException and
RequestLimitExceeded, SNS's Throttled, … — and HTTP 500/502/503/504), plus the few codes in
`rollforward.transient.TRANSIENT_CODES` botocore does not retry but which clear by themselves.
An error that reaches us has outlived botocore's retries; the state machine retries the task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from botocore.retries.standard import (
    RetryContext,
    ThrottledRetryableChecker,
    TransientRetryableChecker,
)

from rollforward.transient import CONDITION_FAILED_CODE, Transient, is_transient_code

T = TypeVar("T")


def error_code(error: BaseException) -> str:
    """The AWS error code of a `ClientError` (`""` for anything else)."""
    if not isinstance(error, ClientError):
        return ""
    return str(error.response.get("Error", {}).get("Code", ""))


_BOTOCORE_RETRYABLE = (ThrottledRetryableChecker(), TransientRetryableChecker())


@dataclass(frozen=True)
class _Status:
    """The one field of an HTTP response botocore's transient checker reads."""

    status_code: int


def is_transient(error: BaseException) -> bool:
    if not isinstance(error, ClientError):
        return False
    if is_transient_code(error_code(error)):
        return True
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    context = RetryContext(
        attempt_number=1,
        parsed_response=error.response,
        http_response=_Status(int(status)) if status is not None else None,
    )
    return any(checker.is_retryable(context) for checker in _BOTOCORE_RETRYABLE)


def is_condition_failure(error: BaseException) -> bool:
    """The one "conditional check failed" test (DynamoDB's ConditionExpression was false)."""
    return error_code(error) == CONDITION_FAILED_CODE


@contextmanager
def translated() -> Iterator[None]:
    """Raise `Transient` for throttling and AWS faults; let every other error through."""
    try:
        yield
    except ClientError as error:
        if is_transient(error):
            raise Transient(f"{error_code(error)}: {error}") from error
        raise


def call(operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`operation(*args, **kwargs)`, with throttling and AWS faults raised as `Transient`."""
    with translated():
        return operation(*args, **kwargs)


__all__ = ["call", "error_code", "is_condition_failure", "is_transient", "translated"]
