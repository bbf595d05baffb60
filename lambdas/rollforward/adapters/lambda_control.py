"""`LambdaControl` on boto3's Lambda client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, error_code
from rollforward.model import PinKey, RuntimeSetting, UpdateMode
from rollforward.ports import Alias, NotFound
from rollforward.scan.listing import AliasRouting, FunctionsPage, ListedFunction
from rollforward.scan.screening import FunctionRuntime
from rollforward.transient import ConditionFailed


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

    def list_functions(
        self, *, marker: str | None, max_items: int, all_versions: bool = False
    ) -> FunctionsPage:
        kwargs: dict[str, Any] = {"MaxItems": max_items, **({"Marker": marker} if marker else {})}
        if all_versions:
            kwargs["FunctionVersion"] = "ALL"
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

    def function_runtime(
        self, function_arn: str, qualifier: str | None = None
    ) -> FunctionRuntime | None:
        kwargs = {"FunctionName": function_arn, **({"Qualifier": qualifier} if qualifier else {})}
        try:
            response = call(self.client.get_function, **kwargs)
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

    # ---- the canary's calls
    def put_runtime_setting(
        self, function: str, qualifier: str | None, mode: UpdateMode, runtime_version_arn: str = ""
    ) -> None:
        _found(
            self.client.put_runtime_management_config,
            FunctionName=function,
            UpdateRuntimeOn=str(mode),
            **({"Qualifier": qualifier} if qualifier else {}),
            **({"RuntimeVersionArn": runtime_version_arn} if runtime_version_arn else {}),
        )

    def alias(self, function: str, name: str) -> Alias:
        return _alias(_found(self.client.get_alias, FunctionName=function, Name=name))

    def update_alias(
        self,
        function: str,
        name: str,
        *,
        version: str,
        weights: Mapping[str, float],
        revision_id: str = "",
    ) -> None:
        try:
            _found(
                self.client.update_alias,
                FunctionName=function,
                Name=name,
                FunctionVersion=version,
                RoutingConfig={"AdditionalVersionWeights": dict(weights)},
                **({"RevisionId": revision_id} if revision_id else {}),
            )
        except ClientError as error:
            if error_code(error) == "PreconditionFailedException":  # RevisionId is stale
                raise ConditionFailed(f"alias {name}: {error}") from error
            raise

    def configuration(self, function: str, qualifier: str | None = None) -> Mapping[str, Any]:
        return dict(
            _found(
                self.client.get_function_configuration,
                FunctionName=function,
                **({"Qualifier": qualifier} if qualifier else {}),
            )
        )

    def runtime_version_in_use(self, function: str, qualifier: str) -> str:
        response = _found(self.client.get_function, FunctionName=function, Qualifier=qualifier)
        config = response["Configuration"].get("RuntimeVersionConfig") or {}
        return str(config.get("RuntimeVersionArn", ""))

    def set_description(self, function: str, description: str) -> None:
        _found(
            self.client.update_function_configuration,
            FunctionName=function,
            Description=description,
        )

    def publish_version(self, function: str, description: str) -> str:
        response = _found(
            self.client.publish_version, FunctionName=function, Description=description
        )
        return str(response["Version"])

    def invoke(self, function: str, qualifier: str, payload: bytes) -> str | None:
        response = _found(
            self.client.invoke, FunctionName=function, Qualifier=qualifier, Payload=payload
        )
        error = response.get("FunctionError")
        return str(error) if error else None


def _found(operation: Callable[..., Any], **kwargs: Any) -> Any:
    """`call`, with a missing function, version or alias raised as `NotFound`."""
    try:
        return call(operation, **kwargs)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise NotFound(f"{error_code(error)}: {error}") from error
        raise


def _alias(response: Mapping[str, Any]) -> Alias:
    weights = (response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return Alias(
        name=str(response["Name"]),
        function_version=str(response["FunctionVersion"]),
        weights={str(k): float(v) for k, v in weights.items()},
        revision_id=str(response.get("RevisionId") or ""),
    )
