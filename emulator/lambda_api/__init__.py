"""Lambda runtime management for the embedded AWS: the API moto lacks, and what each version runs.

What AWS does (docs/design.md §1) and this module reproduces on top of moto:

- `GET|PUT /2021-07-20/functions/{FunctionName}/runtime-management-config?Qualifier=` — the
  runtime update mode (`Auto` | `FunctionUpdate` | `Manual`) of one function *version*
  (`$LATEST` or a published number; no qualifier means `$LATEST`; aliases are refused).
- Every version of a zip function runs one runtime version from `STATE.catalog`;
  `GetFunction` / `GetFunctionConfiguration` (and the calls that return a full
  FunctionConfiguration) carry it as `RuntimeVersionConfig`; `ListFunctions` does not.
- The two-phase rollout: phase 1 (create and update of `$LATEST`) moves `Auto` and
  `FunctionUpdate` to the newest version; phase 2 (`rollout()`) moves every remaining `Auto`
  version, published ones included. `Manual` never moves, and while `$LATEST` is `Manual` its
  runtime and architecture cannot change.
- Each successful mutating call is handed to `STATE.publish_api_call` as CloudTrail records it,
  with the caller resolved from the request's SigV4 access key (`caller_identity`).

The state lives on moto's `LambdaFunction` objects (one per version) as an immutable
`StoredRuntimeSetting`: `publish_version` shallow-copies `$LATEST`, so a published version inherits
the mode and the runtime version in use at publish time, and no later change leaks across.

Both modes use the same patches: in process, moto's botocore stubber matches requests against
`moto.awslambda.urls.url_paths`; moto's server builds its routes from the same dict when the
app is created. `install()` therefore runs before any server app exists (`install_all()`).

The package, one module per responsibility: `versions` (each version's setting, the rollout,
the guard on moto's backend), `runtime_management` (the Get/Put API), `responses`
(RuntimeVersionConfig, ListFunctions paging), `updates` (an update in progress refuses the
next), `calls` (what CloudTrail records, and who
called), `locator` (only this account's and region's function ARNs resolve), `wire` (Lambda's
error responses, JSON bodies). This module composes them in `install()`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.awslambda import urls as lambda_urls
from moto.awslambda.models import LambdaBackend, LambdaStorage
from moto.awslambda.responses import LambdaResponse
from moto.core.common_types import TYPE_RESPONSE

from emulator.lambda_api.calls import CLOUDTRAIL_EVENT_NAMES, _record_in_cloudtrail, caller_identity
from emulator.lambda_api.locator import _resolve_locally
from emulator.lambda_api.responses import (
    _configuration_member,
    _paged_list_functions,
    _whole_body,
    _with_runtime_version_config,
)
from emulator.lambda_api.runtime_management import (
    RUNTIME_MANAGEMENT_PATH,
    _pinnable,
    get_runtime_management_config,
    put_runtime_management_config,
)
from emulator.lambda_api.updates import refused_while_updating
from emulator.lambda_api.versions import (
    AUTO,
    FUNCTION_UPDATE,
    LATEST,
    MANUAL,
    UPDATE_MODES,
    StoredRuntimeSetting,
    _patched_publish_version,
    _patched_put_function,
    _patched_update_function_configuration,
    _store,
    _update_function_code,
    rollout,
    runtime_setting,
    runtime_version_arn,
)
from emulator.lambda_api.wire import (
    LambdaApiError,
    access_denied,
    invalid_parameter_value,
    resource_not_found,
    too_many_requests,
    validation_error,
)

# What the rest of the emulator uses, importable from the package as before the split.
__all__ = [
    "AUTO",
    "CLOUDTRAIL_EVENT_NAMES",
    "FUNCTION_UPDATE",
    "LATEST",
    "MANUAL",
    "UPDATE_MODES",
    "LambdaApiError",
    "StoredRuntimeSetting",
    "_pinnable",
    "_store",
    "access_denied",
    "caller_identity",
    "install",
    "invalid_parameter_value",
    "resource_not_found",
    "rollout",
    "runtime_setting",
    "runtime_version_arn",
    "too_many_requests",
    "validation_error",
]


def _patched_call_action(original: Callable[..., TYPE_RESPONSE]) -> Callable[..., TYPE_RESPONSE]:
    """Every Lambda call: refuse a foreign function ARN first, record a successful one after."""

    @functools.wraps(original)
    def call_action(self: LambdaResponse) -> TYPE_RESPONSE:
        try:
            _resolve_locally(self)
        except LambdaApiError as error:
            return error.as_response()
        status, headers, body = original(self)
        _record_in_cloudtrail(self, int(status), body)
        return status, headers, body

    return call_action


# --------------------------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    setattr(owner, name, make(getattr(owner, name)))


def install() -> None:
    """Patch moto process-wide, once; must run before a moto server app is created."""
    global _installed
    with _install_lock:
        if _installed:
            return
        # Routes: moto resolves the operation from botocore's model (method + URI) and calls the
        # LambdaResponse method of the same name, in process and in the server alike.
        lambda_urls.url_paths[RUNTIME_MANAGEMENT_PATH] = LambdaResponse.dispatch
        LambdaResponse.get_runtime_management_config = get_runtime_management_config  # type: ignore[attr-defined]
        LambdaResponse.put_runtime_management_config = put_runtime_management_config  # type: ignore[attr-defined]
        # An update takes a while: refused meanwhile are another update and PublishVersion
        # (inside the body edits below, so an update's own answer reads InProgress).
        for name, opens_window in (
            ("update_function_configuration", True),
            ("update_function_code", True),
            ("publish_version", False),
        ):
            setattr(
                LambdaResponse,
                name,
                refused_while_updating(getattr(LambdaResponse, name), opens_window=opens_window),
            )
        # RuntimeVersionConfig on every FunctionConfiguration response except the List* ones.
        for name in (
            "get_function_configuration",
            "create_function",
            "update_function_configuration",
            "update_function_code",
            "publish_version",
        ):
            _wrap(
                LambdaResponse,
                name,
                lambda original: _with_runtime_version_config(original, _whole_body),
            )
        _wrap(
            LambdaResponse,
            "get_function",
            lambda original: _with_runtime_version_config(original, _configuration_member),
        )
        _wrap(LambdaResponse, "call_action", _patched_call_action)
        _wrap(LambdaResponse, "list_functions", _paged_list_functions)
        # The model: phase 1, the Manual guard, new functions' setting, PublishVersion's change flag.
        _wrap(
            LambdaBackend, "update_function_configuration", _patched_update_function_configuration
        )
        LambdaBackend.update_function_code = _update_function_code  # type: ignore[method-assign]
        _wrap(LambdaStorage, "put_function", _patched_put_function)
        _wrap(LambdaStorage, "publish_version", _patched_publish_version)
        _installed = True
