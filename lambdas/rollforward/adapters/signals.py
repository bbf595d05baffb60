"""`Signals` on boto3's CloudWatch and CloudWatch Logs clients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rollforward.adapters.aws_errors import call

# DescribeAlarms AlarmNames: at most 100 members.
MAX_ALARM_NAMES = 100


class CloudWatchSignals:
    def __init__(self, cloudwatch: Any, logs: Any) -> None:
        self.cloudwatch = cloudwatch
        self.logs = logs

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
            page = call(self.logs.filter_log_events, **kwargs)
            events.extend(page.get("events", []))
            token = page.get("nextToken")
            if not token or not page.get("events"):
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
