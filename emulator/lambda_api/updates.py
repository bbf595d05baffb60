"""A function update takes a while, as on AWS: `LastUpdateStatus` reads `InProgress` after
UpdateFunctionConfiguration or UpdateFunctionCode, and meanwhile the calls that change the
function again are refused.

AWS (Lambda Developer Guide, "Lambda function states", function states while updating): "The
following operations fail while an asynchronous update is in progress: UpdateFunctionCode,
UpdateFunctionConfiguration, PublishVersion", answered 409 ResourceConflictException "The
operation cannot be performed at this time. An update is in progress for resource: <arn>".
Reads, aliases, tags, runtime-management settings and deletion are not refused.

The update itself is applied at once (moto's), and invocations meanwhile already run it, where
AWS runs the previous code and configuration until the update completes: the window is short and
no rollforward decision rests on what runs during it. The window is real time, not the emulated
clock: the deployed code waits with real sleeps, as it must on AWS. Only calls through the API
open it; CloudFormation's own updates (emulator.cloudformation) complete before the stack does,
as on AWS.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

from moto.awslambda.responses import LambdaResponse

from emulator.lambda_api.versions import LATEST
from emulator.lambda_api.wire import LambdaApiError
from emulator.state import STATE

IN_PROGRESS = "InProgress"

# How long an update stays InProgress is `STATE.update_seconds` (0.2 real seconds): long enough
# that a caller that does not wait is refused (its next call lands within milliseconds), short
# enough to cost the suite little.
_lock = threading.Lock()
_Key = tuple[str, str, str]


def _key(response: LambdaResponse, function_name: str) -> _Key:
    # The locator has already turned a local ARN into the bare name (+ qualifier).
    return (str(response.current_account), str(response.region), function_name.split(":")[0])


def _in_progress(key: _Key) -> bool:
    with _lock:
        completes_at = STATE.updates_complete_at.get(key)
        if completes_at is None:
            return False
        if time.monotonic() < completes_at:
            return True
        del STATE.updates_complete_at[key]
        return False


def last_update_status(response: LambdaResponse, configuration: dict[str, Any]) -> None:
    """`LastUpdateStatus` of a FunctionConfiguration body: InProgress while `$LATEST` updates."""
    if str(configuration.get("Version", LATEST)) != LATEST:
        return  # a published version never updates
    name = configuration.get("FunctionName")
    if isinstance(name, str) and _in_progress(_key(response, name)):
        configuration["LastUpdateStatus"] = IN_PROGRESS


def conflict(function_arn: str) -> LambdaApiError:
    return LambdaApiError(
        "ResourceConflictException",
        409,
        "The operation cannot be performed at this time. "
        f"An update is in progress for resource: {function_arn}",
    )


def refused_while_updating(
    original: Callable[..., Any], *, opens_window: bool
) -> Callable[..., Any]:
    """Wrap a LambdaResponse method that changes `$LATEST` (path `.../functions/<name>/<leaf>`):
    refused while an update is in progress; an update opens the window when it succeeds."""

    @functools.wraps(original)
    def wrapper(self: LambdaResponse, *args: Any, **kwargs: Any) -> Any:
        name = unquote(self.path.rstrip("/").split("/")[-2])
        key = _key(self, name)
        if _in_progress(key):
            fn = self.backend.get_function(key[2])
            raise conflict(str(fn.function_arn))
        result = original(self, *args, **kwargs)
        status = result[0] if isinstance(result, tuple) else 200
        dry_run = opens_window and bool((self.json_body or {}).get("DryRun"))
        if opens_window and not dry_run and int(status) < 400:
            with _lock:
                STATE.updates_complete_at[key] = time.monotonic() + STATE.update_seconds
        return result

    return wrapper


@contextlib.contextmanager
def update_window(seconds: float) -> Iterator[None]:
    """Tests: updates last `seconds` of real time while inside (a refusal a test relies on must
    not depend on how fast a loaded machine makes the next call)."""
    before, STATE.update_seconds = STATE.update_seconds, seconds
    try:
        yield
    finally:
        STATE.update_seconds = before
