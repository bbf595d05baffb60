"""`Signals` on boto3's CloudWatch and CloudWatch Logs clients."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, error_code
from rollforward.ports import MetricQuery, NotFound, Refused

# DescribeAlarms AlarmNames: at most 100 members.
MAX_ALARM_NAMES = 100


class CloudWatchSignals:
    """`ssm` (optional) serves `parameter`: the canary's test events."""

    def __init__(self, cloudwatch: Any, logs: Any, ssm: Any = None) -> None:
        self.cloudwatch = cloudwatch
        self.logs = logs
        self.ssm = ssm

    def metric_values(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[float]]:
        values: dict[str, list[float]] = {}
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        while True:
            response = call(self.cloudwatch.get_metric_data, **kwargs)
            for result in response.get("MetricDataResults", []):
                values.setdefault(str(result["Id"]), []).extend(result.get("Values", []))
            token = response.get("NextToken")
            if not token:
                return values
            kwargs["NextToken"] = token

    def log_events(
        self, log_group: str, *, filter_pattern: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "logGroupName": log_group,
            "filterPattern": filter_pattern,
            "startTime": int(start.timestamp() * 1000),
            "endTime": int(end.timestamp() * 1000),
        }
        while True:
            try:
                page = call(self.logs.filter_log_events, **kwargs)
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":  # no log group: no events
                    return events
                raise
            events.extend(page.get("events", []))
            # FilterLogEvents may return an empty page with a nextToken: only the token ends it.
            token = page.get("nextToken")
            if not token:
                return events
            kwargs["nextToken"] = token

    def alarm_states(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        response = call(
            self.cloudwatch.describe_alarms,
            AlarmNames=names[:MAX_ALARM_NAMES],
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        )
        return {
            str(alarm["AlarmName"]): str(alarm.get("StateValue", ""))
            for alarm in response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])
        }

    # ---- the canary's reads
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
                    "Period": query.period,
                    "Stat": query.stat,
                },
            }
            for query in queries
        ]
        series: dict[str, dict[datetime, float]] = {query.id: {} for query in queries}
        kwargs: dict[str, Any] = {"MetricDataQueries": request, "StartTime": start, "EndTime": end}
        while True:
            response = call(self.cloudwatch.get_metric_data, **kwargs)
            for result in response.get("MetricDataResults", []):
                points = series.setdefault(str(result["Id"]), {})
                for at, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=False
                ):
                    minute = _minute(at)
                    points[minute] = points.get(minute, 0.0) + float(value)
            token = response.get("NextToken")
            if not token:
                return series
            kwargs["NextToken"] = token

    def parameter(self, name: str) -> str:
        if self.ssm is None:
            raise Refused("no SSM client was wired for parameters")
        try:
            response = call(self.ssm.get_parameter, Name=name, WithDecryption=True)
        except ClientError as error:
            if error_code(error) in {"ParameterNotFound", "ParameterVersionNotFound"}:
                raise NotFound(f"{error_code(error)}: {error}") from error
            raise Refused(f"{error_code(error)}: {error}") from error
        return str(response["Parameter"]["Value"])


def _minute(value: datetime) -> datetime:
    """The minute a datapoint belongs to, as an aware UTC datetime."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.replace(second=0, microsecond=0)
