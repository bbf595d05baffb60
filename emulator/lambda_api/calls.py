"""CloudTrail's view of each successful mutating call: who called (from the request's SigV4
access key) and the request parameters as CloudTrail records them, handed to
`STATE.publish_api_call`."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import OperationModel, Shape
from moto.awslambda.responses import LambdaResponse
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from emulator.lambda_api.wire import _json_object
from emulator.state import STATE, ApiCall

log = logging.getLogger(__name__)


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
