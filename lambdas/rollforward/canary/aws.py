"""The AWS side of the canary's ports: boto3 clients behind `LambdaControl` and `Signals`.

Temporary home: moves into `rollforward/adapters/` with the ports. Every ClientError is mapped
here, once: throttling and faults → the transient error Step Functions retries, a missing
resource → `NotFound`, a stale RevisionId → `RevisionChanged`; anything else propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from rollforward.canary.ports import (
    Alias,
    LogEvent,
    MetricQuery,
    NotFound,
    Refused,
    RevisionChanged,
    RuntimeConfig,
)
from rollforward.live import TRANSIENT_CODES, TransientAwsError, error_code
from rollforward.model import UpdateMode

_NOT_FOUND = {"ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound"}


def _call(call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as error:
        code = error_code(error)
        if code in TRANSIENT_CODES:
            raise TransientAwsError(f"{code}: {error}") from error
        if code in _NOT_FOUND:
            raise NotFound(f"{code}: {error}") from error
        if code == "PreconditionFailedException":
            raise RevisionChanged(f"{code}: {error}") from error
        raise


def _alias(response: Mapping[str, Any]) -> Alias:
    weights = (response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return Alias(
        name=str(response["Name"]),
        function_version=str(response["FunctionVersion"]),
        weights={str(k): float(v) for k, v in weights.items()},
        revision_id=str(response.get("RevisionId") or ""),
    )


class AwsLambdaControl:
    """`LambdaControl` over a boto3 Lambda client."""

    def __init__(self, lambda_client: Any) -> None:
        self.lam = lambda_client

    def runtime_setting(self, function: str, qualifier: str) -> RuntimeConfig:
        response = _call(
            self.lam.get_runtime_management_config, FunctionName=function, Qualifier=qualifier
        )
        return RuntimeConfig(
            UpdateMode(response["UpdateRuntimeOn"]), response.get("RuntimeVersionArn") or None
        )

    def put_runtime_setting(
        self, function: str, qualifier: str | None, mode: UpdateMode, runtime_version_arn: str = ""
    ) -> None:
        _call(
            self.lam.put_runtime_management_config,
            FunctionName=function,
            UpdateRuntimeOn=str(mode),
            **({"Qualifier": qualifier} if qualifier else {}),
            **({"RuntimeVersionArn": runtime_version_arn} if runtime_version_arn else {}),
        )

    def aliases(self, function: str) -> list[Alias]:
        response = _call(self.lam.list_aliases, FunctionName=function)
        return [_alias(a) for a in response.get("Aliases", [])]

    def alias(self, function: str, name: str) -> Alias:
        return _alias(_call(self.lam.get_alias, FunctionName=function, Name=name))

    def update_alias(
        self,
        function: str,
        name: str,
        *,
        version: str,
        weights: Mapping[str, float],
        revision_id: str = "",
    ) -> None:
        _call(
            self.lam.update_alias,
            FunctionName=function,
            Name=name,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": dict(weights)},
            **({"RevisionId": revision_id} if revision_id else {}),
        )

    def configuration(self, function: str, qualifier: str | None = None) -> Mapping[str, Any]:
        return dict(
            _call(
                self.lam.get_function_configuration,
                FunctionName=function,
                **({"Qualifier": qualifier} if qualifier else {}),
            )
        )

    def runtime_version_in_use(self, function: str, qualifier: str) -> str:
        configuration = _call(self.lam.get_function, FunctionName=function, Qualifier=qualifier)[
            "Configuration"
        ]
        return str((configuration.get("RuntimeVersionConfig") or {}).get("RuntimeVersionArn", ""))

    def touch_configuration(self, function: str, description: str) -> None:
        _call(
            self.lam.update_function_configuration, FunctionName=function, Description=description
        )

    def publish_version(self, function: str, description: str) -> str:
        response = _call(self.lam.publish_version, FunctionName=function, Description=description)
        return str(response["Version"])

    def tags(self, function: str) -> dict[str, str]:
        try:
            return dict(_call(self.lam.list_tags, Resource=function).get("Tags", {}))
        except NotFound:
            return {}

    def invoke(self, function: str, qualifier: str, payload: bytes) -> str | None:
        response = _call(
            self.lam.invoke, FunctionName=function, Qualifier=qualifier, Payload=payload
        )
        error = response.get("FunctionError")
        return str(error) if error else None


def _minute(value: datetime) -> datetime:
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.replace(second=0, microsecond=0)


class AwsSignals:
    """`Signals` over boto3 CloudWatch, CloudWatch Logs and SSM clients."""

    def __init__(self, cloudwatch: Any, logs: Any, ssm: Any) -> None:
        self.cloudwatch = cloudwatch
        self.logs = logs
        self.ssm = ssm

    def metric_series(
        self, queries: Iterable[MetricQuery], start: datetime, end: datetime
    ) -> dict[str, dict[datetime, float]]:
        queries = list(queries)
        request = [
            {
                "Id": query.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": query.metric,
                        "Dimensions": [{"Name": n, "Value": v} for n, v in query.dimensions],
                    },
                    "Period": 60,
                    "Stat": query.stat,
                },
            }
            for query in queries
        ]
        series: dict[str, dict[datetime, float]] = {q.id: {} for q in queries}
        kwargs: dict[str, Any] = {"MetricDataQueries": request, "StartTime": start, "EndTime": end}
        while True:
            response = _call(self.cloudwatch.get_metric_data, **kwargs)
            for result in response.get("MetricDataResults", []):
                points = series.setdefault(str(result["Id"]), {})
                for at, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=False
                ):
                    points[_minute(at)] = points.get(_minute(at), 0.0) + float(value)
            if not response.get("NextToken"):
                return series
            kwargs["NextToken"] = response["NextToken"]

    def alarm_states(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        response = _call(
            self.cloudwatch.describe_alarms,
            AlarmNames=names,
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        )
        return {
            str(a["AlarmName"]): str(a.get("StateValue", ""))
            for a in response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])
        }

    def log_events(
        self, log_group: str, filter_pattern: str, start: datetime, end: datetime
    ) -> Iterator[LogEvent]:
        kwargs: dict[str, Any] = {
            "logGroupName": log_group,
            "filterPattern": filter_pattern,
            "startTime": int(start.timestamp() * 1000),
            "endTime": int(end.timestamp() * 1000),
        }
        while True:
            try:
                page = _call(self.logs.filter_log_events, **kwargs)
            except NotFound:
                return
            for event in page.get("events", []):
                yield LogEvent(str(event["message"]), event.get("logStreamName"))
            if not page.get("nextToken"):
                return
            kwargs["nextToken"] = page["nextToken"]

    def parameter(self, name: str) -> str:
        try:
            response = _call(self.ssm.get_parameter, Name=name, WithDecryption=True)
        except ClientError as error:
            raise Refused(f"{error_code(error)}: {error}") from error
        return str(response["Parameter"]["Value"])
