"""Fault injection for the embedded AWS: make the next N calls of an operation fail as AWS would.

The canary's safety invariant (docs/design.md §2) is only worth what it survives. A test arms a
fault, drives the lifecycle, and checks the function ended promoted-and-verified or exactly as
it was:

    with faults.injected("UpdateAlias", "TooManyRequestsException", times=3, function="checkout"):
        ...
    faults.inject("PutRuntimeManagementConfig", "ResourceConflictException", times=None)
    faults.before_call("PublishVersion", delete_the_function, function="checkout")
    faults.answer_with("Invoke", padded, function=canary, when=judging)
    faults.clear()

What a fault answers is what Lambda answers: `TooManyRequestsException` 429 with `Retry-After`
(and the `CallerRateLimitExceeded` reason), `ServiceException` 500,
`ResourceConflictException` 409, `ResourceNotFoundException` 404 — the same error documents
`emulator.lambda_api` renders, so botocore parses them exactly as it parses real ones. A failed
call changes nothing and is neither counted by the throttle nor recorded in CloudTrail (it sits
in front of both). CloudWatch and SNS faults (`service="cloudwatch"`, e.g. `GetMetricData`
`Throttling` 400 or `InternalFailure` 500; `service="sns"`, e.g. `Publish` `InternalError` 500)
are rendered by moto's own serializer for the protocol the client speaks.

`before_call` runs an action just before a matching call is handled — a human acting at exactly
that moment (deleting the function, moving the alias), or a test disarming a storm when the
state machine invokes its Rollback task (`when=` sees the request body). The action may call AWS
through boto3; it runs on the thread of the intercepted call.

`answer_with` lets a matching call be handled, then answers it with another body: what the
function really returned, rewritten into an answer Lambda passes on but its caller cannot take
(the canary's reply padded past Step Functions' 256 KiB result quota, so its execution fails with
`States.DataLimitExceeded`, which no `States.ALL` Catch reaches). It models a bug of the
invoked function, not AWS: the quota that fails the execution is the emulated AWS's own.

Retries: botocore retries throttles and 5xx with backoff, and Step Functions' `Retry` waits
`IntervalSeconds` x `BackoffRate`^n; both sleep in real seconds, so a 429 storm longer than the
retries costs minutes of wall time. `retries_on_virtual_clock()` makes a `Retry` interval pass on
the emulated clock (the clock is advanced by it; the thread does not sleep), skips botocore's
backoff, and turns botocore's client-side rate limiter (adaptive mode, a real-time token bucket)
into a no-op. botocore's backoff is skipped rather than put on the clock because it happens
inside a Lambda invocation: the emulator does not enforce Lambda timeouts, so moving the clock
mid-invocation would time the task out under a handler that AWS would have killed first.

Faults match on the operation name (`UpdateAlias`) and, optionally, the function the call is
about (name, or the function in an ARN); the hooks are installed on first use, once per process.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any, Literal
from urllib.parse import unquote

from moto.awslambda.responses import LambdaResponse
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.sns.responses import SNSResponse

from emulator.lambda_api import LambdaApiError, too_many_requests
from emulator.state import STATE

Service = Literal["lambda", "cloudwatch", "sns"]

# Status codes AWS answers with, for the codes tests inject (anything else needs `status=`).
STATUS_OF_CODE: dict[str, int] = {
    "TooManyRequestsException": 429,
    "ServiceException": 500,
    "ResourceConflictException": 409,
    "ResourceNotFoundException": 404,
    "InvalidParameterValueException": 400,
    "Throttling": 400,  # CloudWatch's throttle (query protocol)
    "InternalFailure": 500,
    "InternalError": 500,  # SNS
    "ServiceUnavailable": 503,
}

# .../functions/<name or ARN>[/...] and /2017-03-31/tags/<ARN>
_FUNCTION_IN_PATH = re.compile(r"/(?:functions|tags)/(?P<name>[^/?]+)")


@dataclass(frozen=True)
class Call:
    """A request as the hooks see it: which operation, on which function, with what body."""

    service: Service
    operation: str
    function: str | None
    body: str


@dataclass(eq=False)  # identity: two equal faults armed twice are two faults
class Fault:
    """One armed fault. `times` None means every matching call until `clear()`."""

    service: Service
    operation: str
    function: str | None
    times: int | None
    error_code: str = ""
    status: int = 0
    retry_after_seconds: int = 1
    action: Callable[[Call], None] | None = None  # before_call: run, then let the call through
    rewrite: Callable[[Call, bytes], bytes] | None = None  # answer_with: handled, then rewritten
    when: Callable[[Call], bool] | None = None  # only calls this accepts match
    after: int = 0  # let this many matching calls through first (e.g. fail only the 2nd shift)
    passed: int = 0
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def matches(self, call: Call) -> bool:
        return (
            not self.exhausted
            and call.service == self.service
            and call.operation == self.operation
            and (self.function is None or self.function == call.function)
            and (self.when is None or self.when(call))
        )

    def take(self) -> bool:
        """Count one matching call: True if this call is to fail (or be preceded by the action)."""
        if self.passed < self.after:
            self.passed += 1
            return False
        self.fired += 1
        return True


_lock = threading.Lock()
_armed: list[Fault] = []
_installed = False


def inject(
    operation: str,
    error_code: str = "TooManyRequestsException",
    times: int | None = 1,
    status: int | None = None,
    *,
    function: str | None = None,
    after: int = 0,
    service: Service = "lambda",
    retry_after_seconds: int = 1,
) -> Fault:
    """Make the next `times` calls of `operation` (on `function`, if given) fail with
    `error_code`, after letting `after` of them through; `times=None` fails every call until
    `clear()`. Returns the armed fault, whose `fired` says how many calls it failed."""
    if times is not None and times < 1:
        raise ValueError(f"times must be at least 1 (or None for every call), got {times}")
    code_status = STATUS_OF_CODE.get(error_code)
    if status is None and code_status is None:
        raise ValueError(f"no known HTTP status for {error_code!r}: pass status=")
    fault = Fault(
        service=service,
        operation=operation,
        function=function,
        times=times,
        error_code=error_code,
        status=status if status is not None else int(code_status or 0),
        retry_after_seconds=retry_after_seconds,
        after=after,
    )
    return _arm(fault)


def before_call(
    operation: str,
    action: Callable[[Call], None],
    *,
    function: str | None = None,
    times: int | None = 1,
    after: int = 0,
    when: Callable[[Call], bool] | None = None,
    service: Service = "lambda",
) -> Fault:
    """Run `action` just before the next `times` matching calls (after letting `after` through,
    and only calls `when` accepts) are handled — then handle them."""
    return _arm(Fault(service, operation, function, times, action=action, after=after, when=when))


def answer_with(
    operation: str,
    rewrite: Callable[[Call, bytes], bytes],
    *,
    function: str | None = None,
    times: int | None = 1,
    after: int = 0,
    when: Callable[[Call], bool] | None = None,
    service: Service = "lambda",
) -> Fault:
    """Handle the next `times` matching calls (after letting `after` through, and only calls
    `when` accepts) as usual, then answer each with `rewrite(call, body)` instead of its body;
    the status and the other headers are kept."""
    return _arm(Fault(service, operation, function, times, rewrite=rewrite, after=after, when=when))


@contextmanager
def injected(
    operation: str,
    error_code: str = "TooManyRequestsException",
    times: int | None = 1,
    status: int | None = None,
    *,
    function: str | None = None,
    after: int = 0,
    service: Service = "lambda",
) -> Iterator[Fault]:
    """`inject` for the duration of a block; the fault is disarmed when the block ends."""
    fault = inject(
        operation, error_code, times, status, function=function, after=after, service=service
    )
    try:
        yield fault
    finally:
        disarm(fault)


def disarm(fault: Fault) -> None:
    with _lock:
        if fault in _armed:
            _armed.remove(fault)


def clear() -> None:
    """Disarm every fault."""
    with _lock:
        _armed.clear()


def armed() -> list[Fault]:
    with _lock:
        return list(_armed)


def _arm(fault: Fault) -> Fault:
    _install()
    with _lock:
        _armed.append(fault)
    return fault


def _take(call: Call) -> Fault | None:
    """The first armed fault matching this call, counted as fired."""
    with _lock:
        for fault in _armed:
            if fault.matches(call) and fault.take():
                return fault
    return None


def _body_text(response: Any) -> str:
    body = getattr(response, "body", "") or ""
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


def function_of_path(path: str) -> str | None:
    """The function a Lambda request is about: `checkout` from `/2015-03-31/functions/checkout/
    aliases/live`, or from an ARN there (`...:function:checkout[:qualifier]`)."""
    match = _FUNCTION_IN_PATH.search(path)
    if match is None:
        return None
    value = unquote(match["name"])
    if value.startswith("arn:"):
        parts = value.split(":")
        return parts[6] if len(parts) > 6 else None
    return value.split(":")[0]


# --------------------------------------------------------------------------------------------
# The hooks in front of moto's request handling
# --------------------------------------------------------------------------------------------


def _lambda_error(fault: Fault) -> TYPE_RESPONSE:
    if fault.error_code == "TooManyRequestsException":
        return too_many_requests(fault.retry_after_seconds).as_response()
    message = {
        "ServiceException": "The AWS Lambda service encountered an internal error.",
        "ResourceConflictException": "The operation cannot be performed at this time. "
        "An update is in progress for resource.",
        "ResourceNotFoundException": "Function not found.",
    }.get(fault.error_code, f"injected {fault.error_code}")
    return LambdaApiError(fault.error_code, fault.status, message).as_response()


class _InjectedServiceError(ServiceException):
    """A CloudWatch or SNS error, serialized by moto for the protocol the client speaks."""

    def __init__(self, code: str) -> None:
        super().__init__(code, f"injected {code}")


def _serialized_error(response: Any, fault: Fault) -> TYPE_RESPONSE:
    # moto answers 400 for error codes its model does not know; AWS's status is the fault's.
    _, headers, body = response.serialized(ActionResult(_InjectedServiceError(fault.error_code)))
    headers["status"] = str(fault.status)
    return fault.status, headers, body


def _rewritten(
    response: TYPE_RESPONSE, call: Call, rewrite: Callable[[Call, bytes], bytes]
) -> TYPE_RESPONSE:
    status, headers, body = response
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    kept = {k: v for k, v in headers.items() if k.lower() not in {"content-length", "x-amz-crc32"}}
    return status, kept, rewrite(call, raw)


def _hooked_call_action(
    service: Service, original: Callable[..., TYPE_RESPONSE]
) -> Callable[..., TYPE_RESPONSE]:
    """In front of moto's `call_action` for one service: fail or act before matching calls."""

    @functools.wraps(original)
    def call_action(self: Any) -> TYPE_RESPONSE:
        if _armed:
            function = function_of_path(self.path) if service == "lambda" else None
            call = Call(service, self._get_action(), function, _body_text(self))
            fault = _take(call)
            if fault is not None:
                if fault.rewrite is not None:
                    return _rewritten(original(self), call, fault.rewrite)
                if fault.action is not None:
                    fault.action(call)
                elif service == "lambda":
                    return _lambda_error(fault)
                else:
                    return _serialized_error(self, fault)
        return original(self)

    return call_action


_RESPONSES: dict[Service, type[Any]] = {
    "lambda": LambdaResponse,
    "cloudwatch": CloudWatchResponse,
    "sns": SNSResponse,
}


def _install() -> None:
    """Wrap moto's request handling for each service, once per process; outermost, so a failed
    Lambda call reaches neither the throttle's counters nor CloudTrail."""
    global _installed
    with _lock:
        if _installed:
            return
        for service, response_class in _RESPONSES.items():
            response_class.call_action = _hooked_call_action(service, response_class.call_action)
        _installed = True


# --------------------------------------------------------------------------------------------
# Retries on the virtual clock
# --------------------------------------------------------------------------------------------


class _RetryTime(ModuleType):
    """Stands in for the `time` module inside a retrier: `sleep` returns at once, having advanced
    the emulated clock by the delay if `on_clock`; everything else is `time`."""

    def __init__(self, *, on_clock: bool) -> None:
        super().__init__("time")
        self._on_clock = on_clock

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        if self._on_clock and seconds > 0:
            STATE.clock.advance(timedelta(seconds=seconds))


def _admit_at_once(self: Any, amount: int = 1, block: bool = True) -> bool:
    return True


@contextmanager
def retries_on_virtual_clock() -> Iterator[None]:
    """Step Functions `Retry` intervals pass on the emulated clock; botocore's retry backoff is
    skipped and its adaptive client-side rate limiter admits every request at once. Restored on
    exit."""
    import botocore.endpoint
    from botocore.retries import bucket
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    shims = (
        (retrier_decl, _RetryTime(on_clock=True)),
        (botocore.endpoint, _RetryTime(on_clock=False)),
    )
    modules = [module for module, _ in shims]
    saved_time = [module.time for module in modules]
    saved_acquire = bucket.TokenBucket.acquire
    for module, shim in shims:
        setattr(module, "time", shim)  # noqa: B010 (module attribute, not a name)
    bucket.TokenBucket.acquire = _admit_at_once
    try:
        yield
    finally:
        for module, original in zip(modules, saved_time, strict=True):
            setattr(module, "time", original)  # noqa: B010
        bucket.TokenBucket.acquire = saved_acquire


__all__ = [
    "STATUS_OF_CODE",
    "Call",
    "Fault",
    "answer_with",
    "armed",
    "before_call",
    "clear",
    "disarm",
    "function_of_path",
    "inject",
    "injected",
    "retries_on_virtual_clock",
]
