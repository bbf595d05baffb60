"""rollforward's own Lambda functions, run in this process.

A function deployed into the embedded AWS whose handler lives in `rollforward.handlers` is run
by importing that handler and calling it, with the function's environment variables in place —
no Docker, the same code that ships to Lambda. Other functions (the simulated fleet) are left to
moto and `emulator.traffic`.

Handlers run concurrently, as Lambda runs them in separate environments. Each invocation's
variables live in a per-context overlay of `os.environ` (`handler_environment`): inside the
invocation, and in threads it starts, `os.environ`/`os.getenv` (boto3, Powertools, our settings)
see the function's variables first; everywhere else sees the process environment unchanged.
The AWS side of a call a handler makes in process (moto, behind botocore's stubber) runs
without the overlay, as AWS does not run in the caller's environment.
"""

from __future__ import annotations

import contextvars
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from emulator import iam
from emulator.state import STATE

PROJECT_HANDLER_PREFIX = "rollforward.handlers."
# The variables of the invocation running in this context (None: the process environment).
# A value of None in the overlay is a variable the handler deleted.
_OVERLAY: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar(
    "rollforward_handler_environment", default=None
)
_installed = False
_install_lock = threading.Lock()


class OverlaidEnviron(os._Environ):  # type: ignore[type-arg]
    """`os.environ` that consults the current context's overlay first.

    Installed by changing the class of the existing `os.environ` object, so every reference
    taken before installation (botocore's providers keep one) sees overlays too. Writes and
    deletions inside an overlay stay in it, as a Lambda's own `os.environ` changes stay in its
    sandbox; outside one they reach the process environment (and `putenv`) as before.
    """

    def __getitem__(self, key: str) -> str:
        overlay = _OVERLAY.get()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        return str(super().__getitem__(key))

    def __setitem__(self, key: str, value: str) -> None:
        overlay = _OVERLAY.get()
        if overlay is None:
            super().__setitem__(key, value)
            return
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"str expected, not {type(key if not isinstance(key, str) else value).__name__}"
            )
        overlay[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = _OVERLAY.get()
        if overlay is None:
            super().__delitem__(key)
            return
        if key not in self:
            raise KeyError(key)
        overlay[key] = None

    def __iter__(self) -> Iterator[str]:
        overlay = _OVERLAY.get()
        if overlay is None:
            yield from super().__iter__()
            return
        yield from [key for key in super().__iter__() if key not in overlay]
        yield from [key for key, value in list(overlay.items()) if value is not None]

    def __len__(self) -> int:
        if _OVERLAY.get() is None:
            return super().__len__()
        return sum(1 for _ in self)


@contextmanager
def handler_environment(variables: Mapping[str, str]) -> Iterator[dict[str, str | None]]:
    """Run the body with `variables` over the process environment, in this context only.

    Threads started inside inherit the overlay (a handler's worker threads share its
    environment); other threads, and the process environment, never see it.
    """
    install_environment_overlay()
    token = _OVERLAY.set(dict(variables))
    try:
        overlay = _OVERLAY.get()
        assert overlay is not None
        yield overlay
    finally:
        _OVERLAY.reset(token)


@contextmanager
def process_environment() -> Iterator[None]:
    """Run the body with no handler overlay: the AWS side of a call, or an emulator worker."""
    token = _OVERLAY.set(None)
    try:
        yield
    finally:
        _OVERLAY.reset(token)


def current_overlay() -> Mapping[str, str | None] | None:
    """The overlay of the invocation running in this context, if any (for tests and tools)."""
    return _OVERLAY.get()


_original_thread_start: Callable[[threading.Thread], None] | None = None


def _start_inheriting_overlay(thread: threading.Thread) -> None:
    overlay = _OVERLAY.get()
    if overlay is not None:
        run = thread.run

        def run_in_overlay() -> None:
            _OVERLAY.set(overlay)
            run()

        thread.run = run_in_overlay  # type: ignore[method-assign]
    assert _original_thread_start is not None
    _original_thread_start(thread)


def install_environment_overlay() -> None:
    """Make `os.environ` overlay-aware and threads inherit their starter's overlay (once)."""
    global _original_thread_start
    with _install_lock:
        if _original_thread_start is not None:
            return
        os.environ.__class__ = OverlaidEnviron
        _original_thread_start = threading.Thread.start
        threading.Thread.start = _start_inheriting_overlay  # type: ignore[method-assign,assignment]


@dataclass
class InvocationContext:
    """The subset of the Lambda context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float
    _started: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def is_project_function(fn: Any) -> bool:
    return isinstance(getattr(fn, "handler", None), str) and fn.handler.startswith(
        PROJECT_HANDLER_PREFIX
    )


def _load_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)  # type: ignore[no-any-return]


@contextmanager
def _function_environment(fn: Any) -> Iterator[None]:
    variables = dict((fn.environment_vars or {}).items())
    variables.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            # X-Ray has no daemon here; the handlers' Tracer must stay quiet.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }
    )
    variables.setdefault("POWERTOOLS_LOG_LEVEL", STATE.handler_log_level)
    if STATE.handler_log_level in {"ERROR", "CRITICAL"}:
        # EMF lines are printed to stdout; with nobody reading them here, keep them quiet too.
        variables.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    if STATE.endpoint_url:
        variables["AWS_ENDPOINT_URL"] = STATE.endpoint_url
    # As on Lambda: the execution role's session credentials, not the caller's.
    variables.update(iam.function_credentials(fn))
    with handler_environment(variables):
        yield


_EMPTY_METRICS = "No application metrics to publish"


def _quiet_empty_metrics_warning() -> None:
    """Powertools warns when a handler published no metric; Lambda would just log it. A
    process-wide filter (`warnings.catch_warnings` per invocation is not thread-safe), put back
    when something reset the filters (pytest does, per test)."""
    if not any(
        action == "ignore" and message is not None and message.pattern == _EMPTY_METRICS
        for action, message, *_ in warnings.filters
    ):
        warnings.filterwarnings("ignore", message=_EMPTY_METRICS)


class _CurrentStdout(io.TextIOBase):
    """`sys.stdout` as it is at each write. Powertools' Logger binds the `sys.stdout` of the
    moment its module is imported; in process that may be a capture (pytest's, the demo's story
    filter) that is closed long before the handler logs again. On Lambda stdout is the
    function's log stream for its whole life: here, whatever stdout the process has now."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


_CURRENT_STDOUT = _CurrentStdout()


def _log_to_current_stdout(service: str | None) -> None:
    """Point the stdout handlers of the handler's Powertools logger (named after its service)
    at the process's current stdout (set directly: `setStream` would flush a closed stream)."""
    if not service:
        return
    for handler in logging.getLogger(service).handlers:
        if type(handler) is logging.StreamHandler and handler.stream is not _CURRENT_STDOUT:
            handler.acquire()
            try:
                handler.stream = _CURRENT_STDOUT
            finally:
                handler.release()


def run_project_handler(fn: Any, event: Any) -> tuple[bytes, bool]:
    """Invoke `fn`'s handler with `event`; returns (payload, errored) as Lambda would."""
    context = InvocationContext(
        function_name=fn.function_name,
        function_version=str(fn.version),
        invoked_function_arn=fn.function_arn,
        memory_limit_in_mb=int(fn.memory_size),
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{fn.function_name}",
        log_stream_name=f"{STATE.clock.now():%Y/%m/%d}/[{fn.version}]{uuid.uuid4().hex}",
        timeout_seconds=float(fn.timeout or 3),
        _started=time.monotonic(),
    )
    _quiet_empty_metrics_warning()
    with _function_environment(fn):
        try:
            handler = _load_handler(fn.handler)
            _log_to_current_stdout(os.environ.get("POWERTOOLS_SERVICE_NAME"))
            result = handler(event, context)
        except Exception as error:  # the function failed: Lambda reports it, it does not raise
            body = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return json.dumps(body).encode(), True
    return json.dumps(result, default=str).encode(), False


def install() -> None:
    global _installed
    if _installed:
        return
    install_environment_overlay()
    from moto.awslambda.models import LambdaFunction
    from moto.core.botocore_stubber import BotocoreStubber

    moto_process_request = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        # In process, AWS answers inside the caller's thread: it must not see the caller's
        # environment, nor hand it to the threads it starts (a Step Functions execution).
        with process_environment():
            return moto_process_request(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]

    moto_invoke = LambdaFunction.invoke

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        if not is_project_function(self):
            return moto_invoke(self, body, request_headers, response_headers)
        event = json.loads(body) if body else {}
        payload, errored = run_project_handler(self, event)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    # Handlers read the time through rollforward.clock: give them the emulated clock.
    from rollforward import clock

    clock.set_source(lambda: STATE.clock.now())
    _installed = True
