"""CloudFormation stacks whose templates create Lambda functions, as CloudFormation creates them.

moto's CloudFormation creates `AWS::Lambda::Function` from a handful of properties and drops the
rest. What rollforward needs from a stack, and this module adds (moto 5.2):

- the properties a runtime-management story depends on: `PackageType`, `Code.ImageUri`,
  `Architectures`, `Tags`, and `RuntimeManagementConfig` (`UpdateRuntimeOn`,
  `RuntimeVersionArn`) — plus `AWS::Lambda::Version`'s `RuntimePolicy`, applied to the version
  the resource publishes;
- the tags CloudFormation puts on every resource it creates: `aws:cloudformation:stack-name`,
  `aws:cloudformation:stack-id`, `aws:cloudformation:logical-id` (how rollforward finds the
  template that manages a function);
- the CloudTrail record of what CloudFormation did on the stack's behalf: the Lambda calls come
  from CloudFormation's identity — the stack's service role (`RoleARN`) as an `AssumedRole`
  session named `AWSCloudFormation`, else the caller's own identity — with
  `invokedBy`, `sourceIPAddress` and `userAgent` `cloudformation.amazonaws.com` (CloudTrail
  userIdentity element, "invokedBy"). A stack update that changes a function applies the
  template's `RuntimeManagementConfig` again, so a template that pins Manual re-pins a function
  rollforward rolled forward, and the `PutRuntimeManagementConfig` event says CloudFormation did.

GetTemplate, DescribeStacks and ListStackResources are moto's own.
"""

from __future__ import annotations

import base64
import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaFunction, LambdaVersion
from moto.awslambda.utils import get_backend as lambda_backend
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from emulator.lambda_api import (
    CLOUDTRAIL_EVENT_NAMES,
    LATEST,
    MANUAL,
    UPDATE_MODES,
    StoredRuntimeSetting,
    _pinnable,
    _store,
    caller_identity,
    invalid_parameter_value,
    runtime_setting,
)
from emulator.state import STATE, ApiCall

CLOUDFORMATION = "cloudformation.amazonaws.com"
SESSION_NAME = "AWSCloudFormation"  # the session CloudFormation opens with a stack's service role
STACK_NAME_TAG = "aws:cloudformation:stack-name"
STACK_ID_TAG = "aws:cloudformation:stack-id"
LOGICAL_ID_TAG = "aws:cloudformation:logical-id"
# Properties moto's own create_from_cloudformation_json drops, passed through to CreateFunction.
_PASSED_THROUGH = (
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Environment",
    "ReservedConcurrentExecutions",
    "PackageType",
    "Architectures",
    "ImageConfig",
    "EphemeralStorage",
    "TracingConfig",
    "KmsKeyArn",
    "Layers",
)

_local = threading.local()
_lock = threading.Lock()
_installed = False


@dataclass(frozen=True)
class StackOperation:
    """Who asked CloudFormation to act, and on which stack (set while a stack call runs)."""

    account_id: str
    region: str
    caller: Mapping[str, Any]
    role_arn: str | None


def cloudformation_identity(operation: StackOperation) -> dict[str, Any]:
    """CloudTrail's `userIdentity` for a call CloudFormation makes for `operation`."""
    if operation.role_arn:
        role_name = operation.role_arn.rsplit("/", 1)[-1]
        partition = get_partition(operation.region)
        try:
            role_id = (
                iam_backends[operation.account_id][partition].get_role_by_arn(operation.role_arn).id
            )
        except Exception:  # a role moto does not know: CloudFormation would have refused it
            role_id = "AROA" + "0" * 17
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{SESSION_NAME}",
            "arn": f"arn:{partition}:sts::{operation.account_id}:assumed-role/{role_name}/{SESSION_NAME}",
            "accountId": operation.account_id,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": operation.role_arn,
                    "accountId": operation.account_id,
                    "userName": role_name,
                }
            },
            "invokedBy": CLOUDFORMATION,
        }
    identity = {k: v for k, v in operation.caller.items() if k != "accessKeyId"}
    return {**identity, "invokedBy": CLOUDFORMATION}


@contextmanager
def _stack_operation(operation: StackOperation) -> Iterator[None]:
    previous = getattr(_local, "operation", None)
    _local.operation = operation
    try:
        yield
    finally:
        _local.operation = previous


def _current(account_id: str, region: str) -> StackOperation:
    operation: StackOperation | None = getattr(_local, "operation", None)
    if operation is not None:
        return operation
    root = {"type": "Root", "arn": f"arn:aws:iam::{account_id}:root", "accountId": account_id}
    return StackOperation(account_id, region, root, None)


def _record(fn: LambdaFunction, operation_name: str, request: dict[str, Any]) -> None:
    operation = _current(fn.account_id, fn.region)
    STATE.publish_api_call(
        ApiCall(
            event_source="lambda.amazonaws.com",
            event_name=CLOUDTRAIL_EVENT_NAMES.get(operation_name, operation_name),
            account_id=fn.account_id,
            region=fn.region,
            request_parameters=request,
            response_elements=None,
            user_identity=cloudformation_identity(operation),
            source_ip_address=CLOUDFORMATION,
            user_agent=CLOUDFORMATION,
        )
    )


def apply_runtime_policy(fn: LambdaFunction, policy: Mapping[str, Any] | None) -> None:
    """Set one version's runtime update mode from a template's `RuntimeManagementConfig` /
    `RuntimePolicy`, as CloudFormation does: one PutRuntimeManagementConfig, recorded."""
    if not policy:
        return
    mode = policy.get("UpdateRuntimeOn")
    if mode not in UPDATE_MODES:
        raise invalid_parameter_value(f"Invalid UpdateRuntimeOn in template: {mode!r}")
    setting = runtime_setting(fn)
    if setting is None:
        raise invalid_parameter_value(
            "Runtime management configuration is not supported for functions with package type Image."
        )
    pinned = policy.get("RuntimeVersionArn")
    if mode == MANUAL:
        pin = _pinnable(fn, pinned)
        new_setting = StoredRuntimeSetting(MANUAL, in_use_arn=pin, pinned_arn=pin)
    else:
        new_setting = StoredRuntimeSetting(str(mode), in_use_arn=setting.in_use_arn)
    with STATE.lock:
        _store(fn, new_setting)
    request: dict[str, Any] = {"functionName": fn.function_name, "updateRuntimeOn": mode}
    if str(fn.version) != LATEST:
        request["qualifier"] = str(fn.version)
    if mode == MANUAL:
        request["runtimeVersionArn"] = new_setting.pinned_arn
    _record(fn, "PutRuntimeManagementConfig", request)


def _stack_tags(kwargs: Mapping[str, Any], account_id: str, region: str) -> dict[str, str]:
    stack_id = str(kwargs.get("StackId") or "")
    stack = cloudformation_backends[account_id][region].stacks.get(stack_id)
    tags = {STACK_ID_TAG: stack_id, LOGICAL_ID_TAG: str(kwargs.get("LogicalId") or "")}
    if stack is not None:
        tags[STACK_NAME_TAG] = stack.name
    return tags


def _template_tags(properties: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in properties.get("Tags") or []}


def _code(cls: type[LambdaFunction], properties: Mapping[str, Any]) -> dict[str, Any]:
    """`Code` for the Lambda API: a template's `ZipFile` is plain-text source, zipped here."""
    code = dict(properties["Code"])
    if "ZipFile" in code:
        code["ZipFile"] = base64.b64encode(
            cls._create_zipfile_from_plaintext_code(str(code["ZipFile"]))
        )
    return code


def _configuration(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The function's template properties that the Lambda API takes as they are written."""
    keys = (*_PASSED_THROUGH, "Handler", "Role", "Runtime")
    return {key: properties[key] for key in keys if key in properties}


def create_function(
    cls: type[LambdaFunction],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> LambdaFunction:
    properties = cloudformation_json["Properties"]
    spec = {
        "Code": _code(cls, properties),
        "FunctionName": resource_name,
        "Role": properties["Role"],  # required: a template without one fails here, as on AWS
        **_configuration(properties),
        "Tags": {**_template_tags(properties), **_stack_tags(kwargs, account_id, region_name)},
    }
    fn = lambda_backend(account_id, region_name).create_function(spec)
    _record(fn, "CreateFunction", {"functionName": fn.function_name})
    apply_runtime_policy(fn, properties.get("RuntimeManagementConfig"))
    return fn


def update_function(
    cls: type[LambdaFunction],
    original_resource: LambdaFunction,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> LambdaFunction:
    properties = cloudformation_json["Properties"]
    fn = original_resource
    backend = lambda_backend(account_id, region_name)
    backend.update_function_configuration(fn.function_name, LATEST, _configuration(properties))
    _record(fn, "UpdateFunctionConfiguration", {"functionName": fn.function_name})
    backend.update_function_code(fn.function_name, LATEST, _code(cls, properties))
    _record(fn, "UpdateFunctionCode", {"functionName": fn.function_name})
    fn.tags.update(_template_tags(properties))
    # CloudFormation applies the template's desired state: a template that pins Manual pins
    # again whatever was changed since (rollforward's promotion included).
    apply_runtime_policy(fn, properties.get("RuntimeManagementConfig"))
    return fn


def create_version(
    cls: type[LambdaVersion],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> LambdaVersion:
    properties = cloudformation_json["Properties"]
    backend = lambda_backend(account_id, region_name)
    published = backend.publish_version(str(properties["FunctionName"]))
    if published is None:
        raise invalid_parameter_value("nothing to publish")
    _record(published, "PublishVersion", {"functionName": published.function_name})
    apply_runtime_policy(published, properties.get("RuntimePolicy"))
    return LambdaVersion({"Version": published.version})  # type: ignore[abstract]


def _with_stack_operation(original: Callable[..., Any]) -> Callable[..., Any]:
    """CreateStack / UpdateStack: remember who called and the stack's service role while moto
    creates or updates the resources (synchronously, in this call)."""

    @functools.wraps(original)
    def call(self: CloudFormationResponse) -> Any:
        operation = StackOperation(
            account_id=self.current_account,
            region=self.region,
            caller=caller_identity(self.headers, self.current_account),
            role_arn=self._get_param("RoleARN") or _existing_role(self),
        )
        with _stack_operation(operation):
            return original(self)

    return call


def _existing_role(response: CloudFormationResponse) -> str | None:
    """UpdateStack without RoleARN keeps the role the stack was created with."""
    name = response._get_param("StackName")
    if not name:
        return None
    backend = cloudformation_backends[response.current_account][response.region]
    for stack in backend.stacks.values():
        if name in (stack.name, stack.stack_id):
            return stack.role_arn
    return None


def cloudformation_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    """IAM: a stack operation is authorized against the stack's ARN (`stack/<name>/<id>`)."""
    from emulator.iam import _param

    name = _param(response, "StackName")
    if not name:
        return ["*"]
    if str(name).startswith("arn:"):
        return [str(name)]
    for stack in cloudformation_backends[account][region].stacks.values():
        if stack.name == name:
            return [str(stack.stack_id)]
    return [f"arn:aws:cloudformation:{region}:{account}:stack/{name}/"]  # not created yet


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from emulator import iam

        iam._RESOURCES.setdefault("cloudformation", cloudformation_resources)
        LambdaFunction.create_from_cloudformation_json = classmethod(create_function)  # type: ignore[method-assign,assignment,arg-type]
        LambdaFunction.update_from_cloudformation_json = classmethod(update_function)  # type: ignore[method-assign,assignment]
        LambdaVersion.create_from_cloudformation_json = classmethod(create_version)  # type: ignore[method-assign,assignment,arg-type]
        for name in ("create_stack", "update_stack"):
            setattr(
                CloudFormationResponse,
                name,
                _with_stack_operation(getattr(CloudFormationResponse, name)),
            )
        _installed = True
