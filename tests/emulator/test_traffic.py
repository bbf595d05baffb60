"""Fleet invocation traffic: alias weights, per-runtime-version failures and durations,
AWS/Lambda metrics by ExecutedVersion, INIT_START lines, and traffic on virtual time.

Everything is read back the way rollforward reads AWS: boto3 `get_metric_data`,
`get_metric_statistics`, `filter_log_events`.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from rollforward.canary.initstart import parse_init_start

from emulator import traffic
from emulator.catalog import RuntimeVersion
from emulator.inprocess import EmbeddedAws
from emulator.lambda_api import rollout
from emulator.scenario import wait_until_updated
from emulator.state import STATE
from emulator.traffic import TrafficSummary, VersionTraffic, generate_traffic

REGION = "us-east-1"
RUNTIME = "python3.12"


@pytest.fixture(autouse=True)
def _traffic_installed() -> None:
    traffic.install()  # idempotent; emulator.cloudtrail installs it too


@pytest.fixture
def lam(aws: EmbeddedAws) -> Any:
    return boto3.client("lambda", region_name=REGION)


@pytest.fixture
def cloudwatch(aws: EmbeddedAws) -> Any:
    return boto3.client("cloudwatch", region_name=REGION)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def _create(lam: Any, name: str = "orders", handler: str = "index.handler") -> None:
    iam = boto3.client("iam", region_name=REGION)
    try:
        role = iam.get_role(RoleName="fleet")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="fleet", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName=name, Runtime=RUNTIME, Role=role, Handler=handler, Code={"ZipFile": _zip()}
    )


def _publish_after_change(lam: Any, name: str = "orders") -> str:
    """Touch $LATEST (phase 1 of a runtime rollout applies) and publish it."""
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"TOUCH": str(time.monotonic_ns())}}
    )
    wait_until_updated(lam, name)
    return str(lam.publish_version(FunctionName=name)["Version"])


def _release(error_rate: float = 0.0, p99: float = 120.0) -> RuntimeVersion:
    released = STATE.catalog.release(RUNTIME, REGION, error_rate=error_rate, duration_p99_ms=p99)
    return next(version for version in released if version.architecture == "x86_64")


def _dimensions(**dimensions: str) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in dimensions.items()]


def _window_stat(
    cloudwatch: Any, metric: str, stat: str, summary: TrafficSummary, **dimensions: str
) -> list[float]:
    """One statistic over the whole traffic window (a single bucket), via GetMetricData."""
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": metric,
                        "Dimensions": _dimensions(**dimensions),
                    },
                    "Period": 3600,
                    "Stat": stat,
                },
            }
        ],
        StartTime=summary.start - timedelta(minutes=1),
        EndTime=summary.end + timedelta(minutes=1),
    )
    return list(response["MetricDataResults"][0]["Values"])


def _log_events(name: str = "orders") -> Iterator[dict[str, Any]]:
    logs = boto3.client("logs", region_name=REGION)
    yield from logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]


def test_weighted_alias_sends_about_its_weight_to_the_additional_version(lam: Any) -> None:
    _create(lam)
    one = _publish_after_change(lam)
    two = _publish_after_change(lam)
    lam.create_alias(
        FunctionName="orders",
        Name="live",
        FunctionVersion=one,
        RoutingConfig={"AdditionalVersionWeights": {two: 0.1}},
    )

    summary = generate_traffic("orders", "live", rps=10, duration=timedelta(seconds=200))

    assert summary.invocations == 2000
    assert set(summary.by_version) == {one, two}
    assert 0.075 <= summary.by_version[two].invocations / 2000 <= 0.125


def test_invoke_qualifier_picks_what_runs(lam: Any) -> None:
    _create(lam)
    one = _publish_after_change(lam)
    lam.create_alias(FunctionName="orders", Name="live", FunctionVersion=one)

    def executed(**request: Any) -> str:
        response = lam.invoke(FunctionName="orders", Payload=b"{}", **request)
        assert response["StatusCode"] == 200
        assert json.loads(response["Payload"].read()) == {"statusCode": 200, "body": "ok"}
        return str(response["ExecutedVersion"])

    assert executed() == "$LATEST"
    assert executed(Qualifier=one) == one
    assert executed(Qualifier="live") == one
    # Lambda takes the qualifier from the name too; an ARN works the same way.
    arn = lam.get_function(FunctionName="orders")["Configuration"]["FunctionArn"]
    assert lam.invoke(FunctionName=f"{arn}:live")["ExecutedVersion"] == one
    assert lam.invoke(FunctionName="orders", InvocationType="Event")["StatusCode"] == 202


def test_dimension_sets_are_lambdas(lam: Any, cloudwatch: Any) -> None:
    """`Resource` only for qualified calls, `ExecutedVersion` only through an alias."""
    _create(lam)
    one = _publish_after_change(lam)
    lam.create_alias(FunctionName="orders", Name="live", FunctionVersion=one)
    lam.invoke(FunctionName="orders")
    lam.invoke(FunctionName="orders", Qualifier=one)
    lam.invoke(FunctionName="orders", Qualifier="live")

    metrics = cloudwatch.list_metrics(Namespace="AWS/Lambda", MetricName="Invocations")["Metrics"]
    seen = {frozenset((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in metrics}

    assert seen == {
        frozenset({("FunctionName", "orders")}),
        frozenset({("FunctionName", "orders"), ("Resource", f"orders:{one}")}),
        frozenset({("FunctionName", "orders"), ("Resource", "orders:live")}),
        frozenset(
            {
                ("FunctionName", "orders"),
                ("Resource", "orders:live"),
                ("ExecutedVersion", one),
            }
        ),
    }


def test_runtime_version_error_rate_and_duration_show_per_executed_version(
    aws: EmbeddedAws, lam: Any, cloudwatch: Any
) -> None:
    _create(lam)
    baseline = _publish_after_change(lam)  # runs the newest healthy runtime version
    broken = _release(error_rate=0.05, p99=400.0)
    candidate = _publish_after_change(lam)  # phase 1 moved $LATEST onto the broken version
    lam.create_alias(
        FunctionName="orders",
        Name="live",
        FunctionVersion=baseline,
        RoutingConfig={"AdditionalVersionWeights": {candidate: 0.5}},
    )
    assert (
        lam.get_function(FunctionName="orders", Qualifier=candidate)["Configuration"][
            "RuntimeVersionConfig"
        ]["RuntimeVersionArn"]
        == broken.arn
    )

    # (How fast a bake window of traffic runs is measured by `python -m bench.traffic`.)
    summary = generate_traffic("orders", "live", rps=10, duration=timedelta(minutes=10))

    assert summary.by_version[baseline].errors == 0
    rate = summary.by_version[candidate].errors / summary.by_version[candidate].invocations
    assert 0.035 <= rate <= 0.065

    def stat(metric: str, name: str, version: str) -> float:
        dimensions = {"FunctionName": "orders", "Resource": "orders:live"}
        values = _window_stat(
            cloudwatch, metric, name, summary, **dimensions, ExecutedVersion=version
        )
        assert len(values) == 1
        return values[0]

    for version in (baseline, candidate):
        counts = summary.by_version[version]
        assert stat("Invocations", "Sum", version) == counts.invocations
        assert stat("Errors", "Sum", version) == counts.errors
        assert stat("Throttles", "Sum", version) == 0
        assert stat("Duration", "SampleCount", version) == counts.invocations
    # p99 from the individual durations: ~120 ms healthy, ~400 ms on the broken runtime.
    assert 90 <= stat("Duration", "p99", baseline) <= 160
    assert 300 <= stat("Duration", "p99", candidate) <= 540

    # GetMetricStatistics answers the same percentile as ExtendedStatistics.
    datapoints = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=_dimensions(
            FunctionName="orders", Resource="orders:live", ExecutedVersion=candidate
        ),
        StartTime=summary.start - timedelta(minutes=1),
        EndTime=summary.end + timedelta(minutes=1),
        Period=3600,
        ExtendedStatistics=["p99"],
    )["Datapoints"]
    assert [point["ExtendedStatistics"]["p99"] for point in datapoints] == [
        stat("Duration", "p99", candidate)
    ]

    # Aggregated per minute: 4 dimension sets x 4 metrics x at most 11 minutes, not 6,000 each.
    stored = cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION].metric_data
    assert len([d for d in stored if d.namespace == "AWS/Lambda"]) <= 4 * 4 * 11


def test_init_start_once_per_cold_start_with_the_runtime_version_that_ran(
    aws: EmbeddedAws, lam: Any
) -> None:
    _create(lam)
    first = STATE.catalog.latest(RUNTIME, REGION, "x86_64")
    lam.invoke(FunctionName="orders")
    lam.invoke(FunctionName="orders")  # warm
    one = _publish_after_change(lam)  # a new configuration: $LATEST's environments recycle
    lam.invoke(FunctionName="orders", Qualifier=one)
    lam.invoke(FunctionName="orders", Qualifier=one)  # warm
    lam.invoke(FunctionName="orders")
    # AWS releases a version and rolls it out (phase 2): version 1 (Auto) cold-starts on it.
    newer = _release()
    aws.state.clock.advance(timedelta(days=3))
    assert rollout(region=REGION)
    lam.invoke(FunctionName="orders", Qualifier=one)

    events = sorted(_log_events(), key=lambda event: event["timestamp"])
    parsed = [
        parse_init_start(event["message"], log_stream_name=event["logStreamName"])
        for event in events
    ]
    assert [(p.function_version, p.runtime_version, p.runtime_version_arn) for p in parsed] == [  # type: ignore[union-attr]
        ("$LATEST", first.name, first.arn),
        (one, first.name, first.arn),
        ("$LATEST", first.name, first.arn),
        (one, newer.name, newer.arn),
    ]
    assert events[0]["message"] == (
        f"INIT_START Runtime Version: {first.name}\tRuntime Version ARN: {first.arn}\n"
    )
    last = events[-1]["timestamp"] / 1000
    assert abs(last - aws.state.clock.now().timestamp()) < 5  # stamped on the virtual clock


def test_generate_traffic_runs_on_virtual_time(aws: EmbeddedAws, lam: Any, cloudwatch: Any) -> None:
    _create(lam)
    before = aws.state.clock.now()

    summary = generate_traffic("orders", None, rps=2, duration=timedelta(minutes=10))

    assert summary.end - summary.start == timedelta(minutes=10)
    assert (
        timedelta(minutes=10) <= aws.state.clock.now() - before < timedelta(minutes=10, seconds=5)
    )
    assert summary.by_version == {"$LATEST": VersionTraffic(invocations=1200, errors=0)}
    # Spread over the window: one datapoint a minute, 120 invocations in each full minute.
    start = summary.start.replace(second=0, microsecond=0)
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Invocations",
                        "Dimensions": _dimensions(FunctionName="orders"),
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=start,
        EndTime=start + timedelta(minutes=11),
        ScanBy="TimestampAscending",
    )["MetricDataResults"][0]
    assert sum(response["Values"]) == 1200
    assert len(response["Values"]) in (10, 11)
    assert max(response["Values"]) <= 120
    assert summary.to_dict()["byVersion"] == {"$LATEST": {"invocations": 1200, "errors": 0}}


def test_seeded_traffic_is_reproducible() -> None:
    def run() -> dict[str, VersionTraffic]:
        with EmbeddedAws():  # fresh moto, catalog, clock and the seeded RNG
            lam = boto3.client("lambda", region_name=REGION)
            _create(lam)
            one = _publish_after_change(lam)
            _release(error_rate=0.2)
            two = _publish_after_change(lam)
            lam.create_alias(
                FunctionName="orders",
                Name="live",
                FunctionVersion=one,
                RoutingConfig={"AdditionalVersionWeights": {two: 0.3}},
            )
            return dict(generate_traffic("orders", "live", 5, timedelta(minutes=1)).by_version)

    assert run() == run()


def test_project_functions_run_their_handler_not_the_simulation(lam: Any, cloudwatch: Any) -> None:
    _create(lam, "rollforward-x", handler="rollforward.handlers.no_such_module.handler")

    response = lam.invoke(FunctionName="rollforward-x", Payload=b"{}")

    # emulator.functions imported the handler (and failed to); the fleet simulation never does.
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "ModuleNotFoundError"
    assert cloudwatch.list_metrics(Namespace="AWS/Lambda")["Metrics"] == []


def test_generate_traffic_refuses_an_empty_window(lam: Any) -> None:
    _create(lam)
    for rps, duration in ((0, timedelta(minutes=1)), (1, timedelta(0)), (-1, timedelta(1))):
        with pytest.raises(ValueError):
            generate_traffic("orders", None, rps, duration)
