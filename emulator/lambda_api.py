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
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import OperationModel, Shape
from moto.awslambda import urls as lambda_urls
from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaBackend, LambdaFunction, LambdaStorage, lambda_backends
from moto.awslambda.responses import LambdaResponse
from moto.awslambda_simple.models import lambda_simple_backends
from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import JsonRESTError
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from emulator.state import STATE, ApiCall

log = logging.getLogger(__name__)

LATEST = "$LATEST"
AUTO = "Auto"
FUNCTION_UPDATE = "FunctionUpdate"
MANUAL = "Manual"
UPDATE_MODES = (AUTO, FUNCTION_UPDATE, MANUAL)
DEFAULT_ARCHITECTURE = "x86_64"

# Same shape as rollforward.model.RUNTIME_VERSION_ARN (the emulator imports nothing from the
# deployed package): arn:<partition>:lambda:<region>::runtime:<64 hex>, empty account field.
RUNTIME_VERSION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+)::runtime:(?P<digest>[0-9a-f]{64})$"
)
_PUBLISHED_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
# FunctionName as the API accepts it: a name, a full ARN or a partial ARN, optionally qualified.
_FUNCTION_NAME = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:)?"
    r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d:)?"
    r"(?:\d{12}:)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)
RUNTIME_MANAGEMENT_PATH = r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/runtime-management-config/?$"

# CloudTrail's eventName per operation: Lambda suffixes most with the API version they belong
# to. PutRuntimeManagementConfig is recorded unsuffixed here; consumers match on the prefix.
CLOUDTRAIL_EVENT_NAMES: Mapping[str, str] = {
    "PutRuntimeManagementConfig": "PutRuntimeManagementConfig",
    "CreateFunction": "CreateFunction20150331",
    "PublishVersion": "PublishVersion20150331",
    "CreateAlias": "CreateAlias20150331",
    "UpdateAlias": "UpdateAlias20150331",
    "UpdateFunctionConfiguration": "UpdateFunctionConfiguration20150331v2",
    "UpdateFunctionCode": "UpdateFunctionCode20150331v2",
    "DeleteFunction": "DeleteFunction20150331",
}
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"  # what CloudTrail records for sensitive values


# --------------------------------------------------------------------------------------------
# Errors, as Lambda's REST API sends them
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The runtime setting of one function version
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRuntimeSetting:
    """What one function version is told (mode, pin) and what it runs.

    Immutable on purpose: moto's `publish_version` copies `$LATEST` shallowly, so a shared
    mutable object would make later changes to `$LATEST` leak into published versions.
    """

    update_runtime_on: str
    in_use_arn: str
    pinned_arn: str | None = None  # set exactly when update_runtime_on is Manual


_SETTING_ATTRIBUTE = "_rollforward_runtime_setting"


def _has_runtime(fn: LambdaFunction) -> bool:
    """Image functions bring their own runtime: Lambda manages none for them."""
    return fn.package_type != "Image" and bool(fn.run_time)


def _architecture(fn: LambdaFunction) -> str:
    architectures = fn.architectures or [DEFAULT_ARCHITECTURE]
    return str(architectures[0])


def _newest_arn(fn: LambdaFunction) -> str:
    return STATE.catalog.latest(str(fn.run_time), fn.region, _architecture(fn)).arn


def runtime_setting(fn: LambdaFunction) -> StoredRuntimeSetting | None:
    """The version's setting; None for image functions. New functions start Auto on the newest."""
    if not _has_runtime(fn):
        return None
    setting: StoredRuntimeSetting | None = getattr(fn, _SETTING_ATTRIBUTE, None)
    if setting is None:
        setting = StoredRuntimeSetting(AUTO, _newest_arn(fn))
        _store(fn, setting)
    return setting


def runtime_version_arn(fn: LambdaFunction) -> str | None:
    """The runtime version ARN this function version runs (None for image functions)."""
    setting = runtime_setting(fn)
    return setting.in_use_arn if setting else None


def _store(fn: LambdaFunction, setting: StoredRuntimeSetting) -> None:
    setattr(fn, _SETTING_ATTRIBUTE, setting)


def _qualified_arn(fn: LambdaFunction) -> str:
    """moto keeps `$LATEST` under the unqualified ARN and published versions qualified."""
    if str(fn.version) == LATEST:
        return f"{fn.function_arn}:{LATEST}"
    return str(fn.function_arn)


# --------------------------------------------------------------------------------------------
# The two-phase rollout
# --------------------------------------------------------------------------------------------


def _apply_phase_one(fn: LambdaFunction) -> None:
    """Create/update of `$LATEST`: Auto and FunctionUpdate move to the newest version."""
    setting = runtime_setting(fn)
    if setting is None or str(fn.version) != LATEST or setting.update_runtime_on == MANUAL:
        return
    with STATE.lock:
        _store(fn, replace(setting, in_use_arn=_newest_arn(fn)))


def _function_versions(region: str | None) -> Iterator[LambdaFunction]:
    """Every stored function version in every account and region (moto keeps no public index).

    Two backend families: moto serves Lambda from `lambda_simple_backends` when docker is off
    (the in-process emulator) and from `lambda_backends` otherwise (moto's server).
    """
    for backends in (lambda_backends, lambda_simple_backends):
        for _account_id, region_name, backend in list(backends.iter_backends()):
            if region is not None and region_name != region:
                continue
            for group in list(backend._lambdas._functions.values()):  # type: ignore[attr-defined]
                if group["latest"] is not None:
                    yield group["latest"]
                yield from list(group["versions"])


def rollout(region: str | None = None, runtime: str | None = None) -> list[str]:
    """Phase 2: AWS moves every remaining Auto version (published ones too) to the newest.

    FunctionUpdate versions wait for the next update (published ones never move) and Manual
    versions never move. Returns the qualified ARNs of the versions that changed.
    """
    moved = []
    with STATE.lock:
        for fn in _function_versions(region):
            setting = runtime_setting(fn)
            if setting is None or setting.update_runtime_on != AUTO:
                continue
            if runtime is not None and fn.run_time != runtime:
                continue
            newest = _newest_arn(fn)
            if setting.in_use_arn != newest:
                _store(fn, replace(setting, in_use_arn=newest))
                moved.append(_qualified_arn(fn))
    return moved


# --------------------------------------------------------------------------------------------
# Get/PutRuntimeManagementConfig
# --------------------------------------------------------------------------------------------


def _function_version(
    backend: LambdaBackend, function_name: str, qualifier: str | None
) -> LambdaFunction:
    """Resolve FunctionName (+ Qualifier) to one version, with the errors Lambda gives."""
    match = _FUNCTION_NAME.match(function_name)
    if match is None:
        raise validation_error(
            f"1 validation error detected: Value '{function_name}' at 'functionName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern"
        )
    name, derived = match["name"], match["qualifier"]
    if derived and qualifier and derived != qualifier:
        raise invalid_parameter_value(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    explicit = derived or qualifier
    qualifier = explicit or LATEST
    function_arn = f"arn:{get_partition(backend.region_name)}:lambda:{backend.region_name}:{backend.account_id}:function:{name}"
    if qualifier != LATEST and not _PUBLISHED_VERSION.match(qualifier):
        raise invalid_parameter_value(
            f"The provided function name {function_arn}:{qualifier} is invalid. Aliases are not allowed."
        )
    try:
        fn = backend.get_function(name, qualifier)
    except UnknownFunctionException:
        fn = None
    if fn is None:
        shown = f"{function_arn}:{qualifier}" if explicit else function_arn
        raise resource_not_found(f"Function not found: {shown}")
    return fn


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


# --------------------------------------------------------------------------------------------
# RuntimeVersionConfig on FunctionConfiguration responses (never on List*)
# --------------------------------------------------------------------------------------------


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


def _add_runtime_version_config(backend: LambdaBackend, configuration: dict[str, Any]) -> None:
    """Look the version up again by name and Version (the response is all moto hands back)."""
    try:
        fn = backend.get_function(configuration["FunctionName"], configuration["Version"])
    except (KeyError, UnknownFunctionException):
        return
    arn = runtime_version_arn(fn) if fn is not None else None
    if arn is not None:
        configuration["RuntimeVersionConfig"] = {"RuntimeVersionArn": arn}


def _with_runtime_version_config(
    original: Callable[..., Any], locate: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> Callable[..., Any]:
    """Wrap a moto response method whose JSON body holds a FunctionConfiguration."""

    @functools.wraps(original)
    def wrapper(self: LambdaResponse, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if isinstance(result, str):
            return _edit_body(self, result, locate)
        status, headers, body = result
        return status, headers, _edit_body(self, body, locate)

    return wrapper


def _edit_body(
    response: LambdaResponse, body: str, locate: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> str:
    document = _json_object(body)
    configuration = locate(document) if document else None
    if configuration is None:
        return body
    _add_runtime_version_config(response.backend, configuration)
    return json.dumps(document)


def _whole_body(document: dict[str, Any]) -> dict[str, Any]:
    return document


def _configuration_member(document: dict[str, Any]) -> dict[str, Any] | None:
    configuration = document.get("Configuration")
    return configuration if isinstance(configuration, dict) else None


# --------------------------------------------------------------------------------------------
# Phase 1 and the Manual guard on moto's backend
# --------------------------------------------------------------------------------------------


def _refuse_runtime_change_while_manual(
    fn: LambdaFunction, *, runtime: str | None = None, architectures: list[str] | None = None
) -> None:
    setting = runtime_setting(fn)
    if setting is None or setting.update_runtime_on != MANUAL:
        return
    if runtime is not None and runtime != fn.run_time:
        changed = "runtime"
    elif architectures and list(architectures) != list(fn.architectures):
        changed = "architecture"
    else:
        return
    raise invalid_parameter_value(
        f"The {changed} of a function cannot be changed while its runtime update mode is "
        f"{MANUAL}. Set UpdateRuntimeOn to {AUTO} or {FUNCTION_UPDATE} first."
    )


def _patched_update_function_configuration(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_function_configuration(
        self: LambdaBackend, function_name: str, qualifier: str | None, body: dict[str, Any]
    ) -> Any:
        fn = self.get_function(function_name, qualifier)
        _refuse_runtime_change_while_manual(fn, runtime=body.get("Runtime"))
        result = original(self, function_name, qualifier, body)
        _apply_phase_one(fn)
        return result

    return update_function_configuration


def _update_function_code(
    self: LambdaBackend, function_name: str, qualifier: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    """moto's UpdateFunctionCode, plus Architectures, the Manual guard and phase 1 — which must
    run before `Publish` snapshots `$LATEST` (moto's own version updates code after publishing).
    """
    fn = self.get_function(function_name, qualifier)
    architectures = body.get("Architectures")
    _refuse_runtime_change_while_manual(fn, architectures=architectures)
    if body.get("DryRun"):
        return dict(fn.get_configuration())
    if architectures:
        fn.architectures = list(architectures)  # moto's setter validates the value
    fn.update_function_code(body)
    _apply_phase_one(fn)
    if body.get("Publish"):
        published = self.publish_version(function_name)
        if published is not None:
            return dict(published.get_configuration())
    return dict(fn.get_configuration())


def _patched_put_function(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def put_function(self: LambdaStorage, fn: LambdaFunction) -> None:
        original(self, fn)
        if _has_runtime(fn):  # CreateFunction: start Auto on the newest version (phase 1)
            _store(fn, StoredRuntimeSetting(AUTO, _newest_arn(fn)))

    return put_function


def _patched_publish_version(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto clears `$LATEST`'s changed flag only when earlier versions exist, so an update made
    before the first publish would make every later PublishVersion publish again."""

    @functools.wraps(original)
    def publish_version(self: LambdaStorage, name_or_arn: str, description: str = "") -> Any:
        published = original(self, name_or_arn, description)
        if published is not None:
            self.get_function_by_name_or_arn_forbid_qualifier(
                name_or_arn
            ).code_or_config_updated = False
        return published

    return publish_version


# --------------------------------------------------------------------------------------------
# CloudTrail: who called, and what it records
# --------------------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/[^/]*/(?P<region>[^/]+)/")


def caller_identity(headers: Mapping[str, str], account_id: str) -> dict[str, Any]:
    """CloudTrail's `userIdentity` for a request, from its SigV4 access key id.

    IAM users' keys and STS assumed-role credentials known to moto resolve to `IAMUser` /
    `AssumedRole`; any other key (the fixtures' "testing") is the account root.
    """
    match = _CREDENTIAL.search(_header(headers, "Authorization") or "")
    access_key_id = match["key"] if match else ""
    partition = get_partition(match["region"]) if match else "aws"
    root = {
        "type": "Root",
        "principalId": account_id,
        "arn": f"arn:{partition}:iam::{account_id}:root",
        "accountId": account_id,
        "accessKeyId": access_key_id,
    }
    if not access_key_id:
        return root
    assumed = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)
    if assumed is not None:
        role_name = assumed.role_arn.split("/")[-1]
        principal_id = assumed.user_id
        return {
            "type": "AssumedRole",
            "principalId": principal_id,
            "arn": assumed.arn,
            "accountId": account_id,
            "accessKeyId": access_key_id,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": principal_id.split(":")[0],
                    "arn": assumed.role_arn,
                    "accountId": account_id,
                    "userName": role_name,
                }
            },
        }
    user = iam_backends[account_id][partition].get_user_from_access_key_id(access_key_id)
    if user is not None:
        return {
            "type": "IAMUser",
            "principalId": user.id,
            "arn": user.arn,
            "accountId": account_id,
            "accessKeyId": access_key_id,
            "userName": user.name,
        }
    return root


@functools.cache
def _operation_model(operation: str) -> OperationModel:
    return botocore.session.get_session().get_service_model("lambda").operation_model(operation)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _as_cloudtrail(value: Any, shape: Shape | None) -> Any:
    """CloudTrail's rendering: member names camelCased, map keys kept, sensitive values hidden."""
    if shape is not None and (shape.metadata.get("sensitive") or shape.type_name == "blob"):
        return HIDDEN
    if isinstance(value, dict):
        if shape is not None and shape.type_name == "map":
            return {k: _as_cloudtrail(v, shape.value) for k, v in value.items()}
        members = shape.members if shape is not None and shape.type_name == "structure" else {}
        return {
            _camel(k): _as_cloudtrail(v, members.get(k)) for k, v in value.items() if v is not None
        }
    if isinstance(value, list):
        member = shape.member if shape is not None and shape.type_name == "list" else None
        return [_as_cloudtrail(item, member) for item in value]
    return value


def _request_parameters(response: LambdaResponse, operation: OperationModel) -> dict[str, Any]:
    """The request as the caller sent it: URI labels, query string and JSON body members."""
    shape = operation.input_shape
    if shape is None:
        return {}
    body = _json_object(response.body) or {}
    query = parse_qs(response.parsed_url.query)
    uri_values = {k: unquote(str(v)) for k, v in (response.uri_match or {}).items()}
    request: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri" and wire_name in uri_values:
            request[name] = uri_values[wire_name]
        elif location == "querystring" and wire_name in query:
            request[name] = query[wire_name][0]
        elif location is None and name in body:
            request[name] = body[name]
    return dict(_as_cloudtrail(request, shape))


def _record_in_cloudtrail(response: LambdaResponse, status: int, body: Any) -> None:
    if not 200 <= status < 300:
        return
    operation_name = response._get_action()
    event_name = CLOUDTRAIL_EVENT_NAMES.get(operation_name)
    if event_name is None:
        return
    operation = _operation_model(operation_name)
    document = _json_object(body)
    call = ApiCall(
        event_source="lambda.amazonaws.com",
        event_name=event_name,
        account_id=response.current_account,
        region=response.region,
        request_parameters=_request_parameters(response, operation),
        response_elements=_as_cloudtrail(document, operation.output_shape) if document else None,
        user_identity=caller_identity(response.headers, response.current_account),
    )
    try:
        STATE.publish_api_call(call)
    except Exception:  # CloudTrail delivery is asynchronous in AWS: it never fails the call
        log.exception("delivering %s to api-call listeners failed", event_name)


def _patched_call_action(original: Callable[..., TYPE_RESPONSE]) -> Callable[..., TYPE_RESPONSE]:
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
# Function ARNs: only this account's and region's resolve (moto matches on the name alone)
# --------------------------------------------------------------------------------------------

# A function named by full or partial ARN (botocore NamespacedFunctionName and friends).
_FUNCTION_LOCATOR = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>[^:/]+))?$"
)
_FUNCTION_LABELS = ("FunctionName", "Resource")  # URI labels naming a function (tag APIs: Resource)


def access_denied(message: str) -> LambdaApiError:
    return LambdaApiError("AccessDeniedException", 403, message)


def _resolve_locally(response: LambdaResponse) -> None:
    """Refuse a function ARN of another region, account or partition as Lambda does, and hand
    moto the bare name (+ qualifier) of a local one, so every operation resolves ARNs alike.

    AWS (LocalStack's AWS-validated snapshots, tests/aws/services/lambda_/test_lambda_api.py):
    another region -> 404 ResourceNotFoundException "Functions from 'R' are not reachable in
    this region ('r')"; another account -> 403 AccessDeniedException (the emulator has no
    cross-account resource policies, so nothing can grant it).
    """
    if not response.uri_match:
        response._get_action()  # the router fills uri_match (validation may have done it)
    for label in _FUNCTION_LABELS:
        value = response.uri_match.get(label)
        if not value:
            continue
        value = unquote(str(value))
        match = _FUNCTION_LOCATOR.match(value)
        if match is None or not (match["region"] or match["account"] or match["partition"]):
            continue
        region, account = response.region, response.current_account
        if match["region"] and match["region"] != region:
            raise resource_not_found(
                f"Functions from '{match['region']}' are not reachable in this region ('{region}')"
            )
        if match["account"] and match["account"] != account:
            action = response._get_action()
            caller = caller_identity(response.headers, account).get("arn")
            raise access_denied(
                f"User: {caller} is not authorized to perform: lambda:{action} on resource: "
                f"{value} because no resource-based policy allows the lambda:{action} action"
            )
        if match["partition"] is not None and match["partition"] != get_partition(region):
            raise resource_not_found(f"Function not found: {value}")
        if label == "FunctionName":
            local = match["name"] + (f":{match['qualifier']}" if match["qualifier"] else "")
            _replace_path_segment(response, value, local)


def _replace_path_segment(response: LambdaResponse, value: str, replacement: str) -> None:
    segments = response.path.split("/")
    for index, segment in enumerate(segments):
        if unquote(segment) == value:
            segments[index] = replacement
            response.path = "/".join(segments)
            return


# --------------------------------------------------------------------------------------------
# ListFunctions: at most 50 per page, MaxItems and Marker honoured
# --------------------------------------------------------------------------------------------

LIST_FUNCTIONS_PAGE_LIMIT = 50  # "ListFunctions returns a maximum of 50 items in each response"


def _listing_key(configuration: Mapping[str, Any]) -> tuple[str, int]:
    version = str(configuration.get("Version", LATEST))
    return str(configuration.get("FunctionName", "")), (
        -1 if version == LATEST else int(version) if version.isdigit() else 0
    )


def _marker(key: tuple[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _after(marker: str) -> tuple[str, int]:
    try:
        name, version = json.loads(base64.urlsafe_b64decode(marker.encode()))
        return str(name), int(version)
    except (ValueError, TypeError) as error:
        raise invalid_parameter_value(f"Invalid marker: {marker}") from error


def _paged_list_functions(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto answers every function in one page; AWS pages, ordered and resumable by Marker."""

    @functools.wraps(original)
    def list_functions(self: LambdaResponse) -> Any:
        query = parse_qs(self.parsed_url.query)
        markers = query.get("Marker")
        after = _after(markers[0]) if markers and markers[0] else None
        max_items = query.get("MaxItems")
        requested = int(max_items[0]) if max_items else LIST_FUNCTIONS_PAGE_LIMIT
        size = min(requested, LIST_FUNCTIONS_PAGE_LIMIT)
        document = _json_object(original(self)) or {}
        listed = sorted(document.get("Functions", []), key=_listing_key)
        if after is not None:
            listed = [f for f in listed if _listing_key(f) > after]
        page: dict[str, Any] = {"Functions": listed[:size]}
        if len(listed) > size:
            page["NextMarker"] = _marker(_listing_key(listed[size - 1]))
        return json.dumps(page)

    return list_functions


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
