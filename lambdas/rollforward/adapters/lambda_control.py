"""`LambdaControl` on boto3's Lambda client."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, error_code
from rollforward.model import PinKey, RuntimeSetting, UpdateMode
from rollforward.scan.listing import AliasRouting, FunctionsPage, ListedFunction
from rollforward.scan.screening import FunctionRuntime


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

    def list_functions(self, *, marker: str | None, max_items: int) -> FunctionsPage:
        kwargs: dict[str, Any] = {"MaxItems": max_items, **({"Marker": marker} if marker else {})}
        page = call(self.client.list_functions, **kwargs)
        return FunctionsPage(
            tuple(ListedFunction.from_listing(item) for item in page.get("Functions", [])),
            page.get("NextMarker") or None,
        )

    def aliases(self, function_arn: str) -> list[AliasRouting] | None:
        found: list[AliasRouting] = []
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"FunctionName": function_arn}
            if marker:
                kwargs["Marker"] = marker
            try:
                page = call(self.client.list_aliases, **kwargs)
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":
                    return None
                raise
            for alias in page.get("Aliases", []):
                weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
                found.append(
                    AliasRouting(
                        name=str(alias.get("Name", "")),
                        function_version=str(alias.get("FunctionVersion", "")),
                        additional_versions=tuple(str(v) for v in weights),
                    )
                )
            marker = page.get("NextMarker")
            if not marker:
                return found

    def function_runtime(self, function_arn: str) -> FunctionRuntime | None:
        try:
            response = call(self.client.get_function, FunctionName=function_arn)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise
        configuration = response.get("Configuration") or {}
        architectures = configuration.get("Architectures") or ["x86_64"]
        version = configuration.get("RuntimeVersionConfig") or {}
        return FunctionRuntime(
            runtime=str(configuration.get("Runtime") or ""),
            architecture=str(architectures[0]),
            runtime_version_arn=str(version.get("RuntimeVersionArn") or ""),
        )
