"""Reads of a function's live state. The ledger remembers; these say what is true now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from rollforward.model import LATEST, PinKey, UpdateMode

TRANSIENT_CODES = {
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",  # CloudWatch's spelling
    "ServiceException",
    "ResourceConflictException",
    "InternalFailure",
    "ServiceUnavailable",
}


class TransientAwsError(Exception):
    """AWS throttled or failed: retry later. Step Functions retries `rollforward.Transient`."""


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class RuntimeSetting:
    """One version's runtime management setting, as GetRuntimeManagementConfig returns it."""

    key: PinKey
    mode: UpdateMode
    pinned_runtime_version_arn: str | None

    @property
    def is_pinned(self) -> bool:
        return self.mode is UpdateMode.MANUAL


def read_runtime_setting(lambda_client: Any, key: PinKey) -> RuntimeSetting | None:
    """The live setting, or None when the function or version no longer exists."""
    try:
        response = lambda_client.get_runtime_management_config(
            FunctionName=key.function_arn, Qualifier=key.qualifier
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        if error_code(error) in TRANSIENT_CODES:
            raise TransientAwsError(str(error)) from error
        raise
    return RuntimeSetting(
        key=key,
        mode=UpdateMode(response["UpdateRuntimeOn"]),
        pinned_runtime_version_arn=response.get("RuntimeVersionArn"),
    )


def read_tags(lambda_client: Any, function_arn: str) -> dict[str, str]:
    try:
        return dict(lambda_client.list_tags(Resource=function_arn).get("Tags", {}))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return {}
        if error_code(error) in TRANSIENT_CODES:
            raise TransientAwsError(str(error)) from error
        raise


def unqualified_arn(function_arn: str) -> str:
    """`arn:aws:lambda:r:a:function:f:3` -> `arn:aws:lambda:r:a:function:f`."""
    parts = function_arn.split(":")
    return ":".join(parts[:7])


def qualifier_of(function_arn: str) -> str:
    parts = function_arn.split(":")
    return parts[7] if len(parts) > 7 else LATEST
