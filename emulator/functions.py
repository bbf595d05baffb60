"""rollforward's own Lambda functions, run in this process.

A function deployed into the embedded AWS whose handler lives in `rollforward.handlers` is run
by importing that handler and calling it, with the function's environment variables in place —
no Docker, the same code that ships to Lambda. Other functions (the simulated fleet) are left to
moto and `emulator.traffic`.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from emulator.state import STATE

PROJECT_HANDLER_PREFIX = "rollforward.handlers."
# One invocation at a time: the handler's environment is the process environment.
# Re-entrant so a handler may invoke another project function synchronously.
_ENV_LOCK = threading.RLock()
_installed = False


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
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


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
    with _function_environment(fn), warnings.catch_warnings():
        # Powertools warns when a handler published no metric; Lambda would just log it.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        try:
            result = _load_handler(fn.handler)(event, context)
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
    from moto.awslambda.models import LambdaFunction

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
