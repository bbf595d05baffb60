"""Function ARNs: only this account's and region's resolve, as on AWS (moto matches a function
ARN on its name alone)."""

from __future__ import annotations

import re
from urllib.parse import unquote

from moto.awslambda.responses import LambdaResponse
from moto.utilities.utils import get_partition

from emulator.lambda_api.calls import caller_identity
from emulator.lambda_api.wire import access_denied, resource_not_found

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
