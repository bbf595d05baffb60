"""`LambdaControl` on boto3's Lambda client."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, error_code
from rollforward.model import PinKey, RuntimeSetting, UpdateMode


def read_runtime_setting(lambda_client: Any, key: PinKey) -> RuntimeSetting | None:
    """The live setting, or None when the function or version no longer exists."""
    try:
        response = call(
            lambda_client.get_runtime_management_config,
            FunctionName=key.function_arn,
            Qualifier=key.qualifier,
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return RuntimeSetting(
        key=key,
        mode=UpdateMode(response["UpdateRuntimeOn"]),
        pinned_runtime_version_arn=response.get("RuntimeVersionArn"),
    )


def read_tags(lambda_client: Any, function_arn: str) -> dict[str, str]:
    """The function's tags, or {} when it no longer exists (ListTags takes the ARN)."""
    try:
        return dict(call(lambda_client.list_tags, Resource=function_arn).get("Tags", {}))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return {}
        raise


class AwsLambdaControl:
    """`client` is a boto3 Lambda client (exposed: the scan paces the calls made through it)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def runtime_setting(self, key: PinKey) -> RuntimeSetting | None:
        return read_runtime_setting(self.client, key)

    def tags(self, function_arn: str) -> dict[str, str]:
        return read_tags(self.client, function_arn)
