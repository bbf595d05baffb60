"""CloudWatch rounds a request's StartTime down (GetMetricData / GetMetricStatistics `StartTime`):
to the minute under 15 days old, to the 5-minute interval up to 63 days, to the hour beyond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator import traffic
from emulator.inprocess import EmbeddedAws
from emulator.state import STATE
from emulator.traffic.metrics import rounded_start

REGION = "us-east-1"
METRIC = {"Namespace": "Shop", "MetricName": "Orders"}


@pytest.fixture
def cloudwatch(aws: EmbeddedAws) -> Any:
    traffic.install()
    return boto3.client("cloudwatch", region_name=REGION)


def _five_minutes_ago() -> datetime:
    return (STATE.clock.now() - timedelta(minutes=5)).replace(second=0, microsecond=0)


def test_a_request_starting_mid_minute_reads_that_whole_minute(cloudwatch: Any) -> None:
    minute = _five_minutes_ago()
    cloudwatch.put_metric_data(
        Namespace=METRIC["Namespace"],
        MetricData=[
            {"MetricName": "Orders", "Value": 3.0, "Timestamp": minute + timedelta(seconds=10)}
        ],
    )
    start = minute + timedelta(seconds=30)  # after the datum: AWS still reads 12:32:34 as 12:32

    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {"Id": "orders", "MetricStat": {"Metric": METRIC, "Period": 60, "Stat": "Sum"}}
        ],
        StartTime=start,
        EndTime=minute + timedelta(minutes=1),
    )["MetricDataResults"][0]
    stats = cloudwatch.get_metric_statistics(
        **METRIC,
        StartTime=start,
        EndTime=minute + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]

    assert data["Values"] == [3.0]
    assert data["Timestamps"][0].astimezone(UTC) == minute  # periods start on the minute
    assert [point["Sum"] for point in stats] == [3.0]


@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 3)),
    age_days=st.sampled_from([0, 14, 15, 62, 63, 400]),
)
def test_older_starts_round_to_coarser_clock_intervals(start: datetime, age_days: int) -> None:
    start = start.replace(tzinfo=UTC)
    now = start + timedelta(days=age_days, seconds=1)
    rounded = rounded_start(start, now)
    step = 60 if age_days < 15 else 300 if age_days < 63 else 3600
    assert rounded <= start < rounded + timedelta(seconds=step)
    assert int(rounded.timestamp()) % step == 0
    assert rounded_start(start.replace(tzinfo=None), now) == rounded.replace(tzinfo=None)
