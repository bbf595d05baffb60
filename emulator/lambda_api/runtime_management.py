"""`GET|PUT /2021-07-20/functions/{FunctionName}/runtime-management-config?Qualifier=`: the
API moto lacks, per version, with the errors Lambda gives."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from moto.awslambda.models import LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.core.common_types import TYPE_RESPONSE

from emulator.lambda_api.versions import (
    MANUAL,
    RUNTIME_VERSION_ARN,
    UPDATE_MODES,
    StoredRuntimeSetting,
    _architecture,
    _function_version,
    _qualified_arn,
    _store,
    runtime_setting,
)
from emulator.lambda_api.wire import _json_object, invalid_parameter_value, validation_error
from emulator.state import STATE

RUNTIME_MANAGEMENT_PATH = r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/runtime-management-config/?$"


def _runtime_management_config(fn: LambdaFunction, setting: StoredRuntimeSetting) -> dict[str, Any]:
    return {
        "UpdateRuntimeOn": setting.update_runtime_on,
        "RuntimeVersionArn": setting.pinned_arn,
        "FunctionArn": _qualified_arn(fn),
    }


def _require_runtime(fn: LambdaFunction) -> StoredRuntimeSetting:
    setting = runtime_setting(fn)
    if setting is None:
        raise invalid_parameter_value(
            "Runtime management configuration is not supported for functions with package type Image."
        )
    return setting


def _request_target(response: LambdaResponse) -> tuple[str, str | None]:
    """FunctionName from the path, Qualifier from the query string (never moto's fallbacks)."""
    function_name = unquote(response.path.rstrip("/").split("/")[-2])
    qualifiers = parse_qs(response.parsed_url.query).get("Qualifier")
    return function_name, (qualifiers[0] if qualifiers else None)


def _json_response(document: Mapping[str, Any]) -> TYPE_RESPONSE:
    return 200, {"status": "200", "Content-Type": "application/json"}, json.dumps(document)


def get_runtime_management_config(self: LambdaResponse) -> TYPE_RESPONSE:
    """GetRuntimeManagementConfig: mode, pinned ARN (Manual only) and qualified FunctionArn."""
    function_name, qualifier = _request_target(self)
    fn = _function_version(self.backend, function_name, qualifier)
    return _json_response(_runtime_management_config(fn, _require_runtime(fn)))


def put_runtime_management_config(self: LambdaResponse) -> TYPE_RESPONSE:
    """PutRuntimeManagementConfig: Manual pins and runs the given ARN at once; Auto and
    FunctionUpdate keep the version in use until the next update (phase 1) or rollout (phase 2).
    """
    function_name, qualifier = _request_target(self)
    body = _json_object(self.body)
    if body is None:
        raise validation_error("Could not parse request body into json.")
    mode = body.get("UpdateRuntimeOn")
    pinned = body.get("RuntimeVersionArn")
    if mode not in UPDATE_MODES:
        raise validation_error(
            f"1 validation error detected: Value '{mode}' at 'updateRuntimeOn' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]"
        )
    fn = _function_version(self.backend, function_name, qualifier)
    setting = _require_runtime(fn)
    if mode == MANUAL:
        pin = _pinnable(fn, pinned)
        new_setting = StoredRuntimeSetting(MANUAL, in_use_arn=pin, pinned_arn=pin)
    else:
        if pinned is not None:
            raise invalid_parameter_value(
                f"RuntimeVersionArn can only be specified when UpdateRuntimeOn is {MANUAL}."
            )
        new_setting = StoredRuntimeSetting(mode, in_use_arn=setting.in_use_arn)
    with STATE.lock:
        _store(fn, new_setting)
    return _json_response(_runtime_management_config(fn, new_setting))


def _pinnable(fn: LambdaFunction, pinned: Any) -> str:
    """A Manual pin must name a released version of this function's runtime, region and arch."""
    if not pinned:
        raise invalid_parameter_value(
            f"RuntimeVersionArn must be specified when UpdateRuntimeOn is {MANUAL}."
        )
    if not isinstance(pinned, str) or not RUNTIME_VERSION_ARN.match(pinned):
        raise invalid_parameter_value(f"Invalid RuntimeVersionArn: {pinned}")
    architecture = _architecture(fn)
    released = {v.arn for v in STATE.catalog.versions(str(fn.run_time), fn.region, architecture)}
    if pinned not in released:
        raise invalid_parameter_value(
            f"Runtime version {pinned} is not available for runtime {fn.run_time} "
            f"with architecture {architecture} in {fn.region}."
        )
    return pinned
