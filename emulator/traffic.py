"""Invocation traffic of the simulated fleet, and the signals it leaves behind.

rollforward judges a canary the way it would in AWS: `AWS/Lambda` metrics split by
`ExecutedVersion` (candidate vs baseline over the same window) and the INIT_START lines that
say which runtime version really ran. moto invokes nothing without Docker and records neither,
so every invocation of a fleet function (any function whose handler is not one of
rollforward's own) goes through here instead:

- an alias honours `RoutingConfig.AdditionalVersionWeights` (drawn from `STATE.rng`, so a seeded
  run is reproducible); a version number runs that version; no qualifier runs `$LATEST`;
- the executed version's runtime version (catalog entry) decides the outcome: it fails with its
  `error_rate` (`Runtime.ExitError`, `x-amz-function-error: Unhandled`) and takes a log-normal
  duration with its p50/p99;
- the first invocation of an execution environment — per (function, version, runtime version,
  configuration) — writes `INIT_START` (with the JSON log format, `platform.initStart`) to
  the function's `LoggingConfig.LogGroup` (default `/aws/lambda/<name>`), as Lambda does;
- Invocations, Errors, Throttles and Duration go straight into moto's CloudWatch backend with
  Lambda's dimension sets, one statistic set per (metric, dimensions, minute) rather than one
  datum per invocation, so ten minutes at 10 rps stays small;
- moto's CloudWatch learns percentiles (`p99` in GetMetricData, `ExtendedStatistics` in
  GetMetricStatistics), computed from the individual durations each minute keeps.

rollforward's own functions are left to moto and `emulator.functions` (they run in process).
`generate_traffic` drives a bake window of traffic on virtual time, without sleeping.
"""

from __future__ import annotations

import contextvars
import json
import math
import os
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.awslambda.responses import LambdaResponse
from moto.awslambda.utils import get_backend as lambda_backend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudwatch.models import (
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    Statistics,
    cloudwatch_backends,
)
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.logs.models import logs_backends

from emulator import lambda_api
from emulator.catalog import RuntimeVersion
from emulator.functions import is_project_function
from emulator.logging_config import JSON as JSON_FORMAT
from emulator.logging_config import logging_config
from emulator.state import STATE

NAMESPACE = "AWS/Lambda"
LATEST = "$LATEST"
# Used when a function's runtime version is unknown to the catalog (or it has none: images).
DEFAULT_DURATION_P50_MS = 40.0
DEFAULT_DURATION_P99_MS = 120.0

_Z_99 = 2.3263478740408408  # standard normal quantile at 0.99: ln(p99/p50) = sigma * z99
_PERCENTILE_STAT = re.compile(r"^p(100|\d{1,2}(?:\.\d+)?)$")
_SUCCESS_PAYLOAD = json.dumps({"statusCode": 200, "body": "ok"}).encode()
# Per-backend bookkeeping lives on moto's backend objects, so a moto reset forgets it too.
_ENVIRONMENTS_ATTRIBUTE = "_rollforward_environments"
_MINUTES_ATTRIBUTE = "_rollforward_lambda_minutes"
# ExtendedStatistics of the GetMetricStatistics request being answered (moto drops them).
_REQUESTED_EXTENDED: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "rollforward_extended_statistics", default=()
)

_lock = threading.RLock()
_installed = False
_moto_invoke: Callable[..., Any] | None = None


@dataclass(frozen=True)
class VersionTraffic:
    """What one executed version answered during a `generate_traffic` run."""

    invocations: int
    errors: int


@dataclass(frozen=True)
class TrafficSummary:
    """The outcome of `generate_traffic`, per executed version (`"1"`, `"2"`, `"$LATEST"`)."""

    function: str
    qualifier: str | None
    start: datetime
    end: datetime
    by_version: Mapping[str, VersionTraffic]

    @property
    def invocations(self) -> int:
        return sum(version.invocations for version in self.by_version.values())

    @property
    def errors(self) -> int:
        return sum(version.errors for version in self.by_version.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the control surface and the CLI print it)."""
        return {
            "function": self.function,
            "qualifier": self.qualifier,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "invocations": self.invocations,
            "errors": self.errors,
            "byVersion": {
                version: {"invocations": counts.invocations, "errors": counts.errors}
                for version, counts in sorted(self.by_version.items())
            },
        }


@dataclass(frozen=True)
class _Target:
    """Where one invocation landed: the moto object of the executed version and its metric names."""

    fn: Any
    executed_version: str
    resource: str | None  # `Resource` dimension: `name:alias` / `name:3`; None when unqualified
    via_alias: bool  # Lambda publishes `ExecutedVersion` only for alias invocations


def runtime_version_arn_of(fn: Any) -> str | None:
    """The runtime version ARN that `fn` (one moto version object) runs on; None for images.

    The single place traffic reads it: `emulator.lambda_api` owns the per-version setting
    (two-phase rollout, pins) and answers `RuntimeVersionConfig` from the same value.
    """
    return lambda_api.runtime_version_arn(fn)


def generate_traffic(
    function: str,
    qualifier: str | None,
    rps: float,
    duration: timedelta,
    region: str | None = None,
    account_id: str | None = None,
) -> TrafficSummary:
    """Invoke `function` `rps` x `duration` times, spread evenly over a window of virtual time.

    The window starts at `STATE.clock.now()`; invocations are stamped across it (metrics, log
    lines) without sleeping, then the clock is advanced to the window's end, so a ten-minute
    bake takes a fraction of a second. Each invocation takes the same path as a boto3 `Invoke`
    (alias weights included).
    """
    if rps <= 0:
        raise ValueError(f"rps must be positive, got {rps}")
    if duration <= timedelta(0):
        raise ValueError(f"duration must be positive, got {duration}")
    region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    backend = lambda_backend(account_id or DEFAULT_ACCOUNT_ID, region)
    # The version a project function runs (moto does not say which in its response).
    fallback_version = str(backend.get_function(function, qualifier).version)
    count = round(rps * duration.total_seconds())
    start = STATE.clock.now()
    step = duration / max(count, 1)
    totals: dict[str, list[int]] = {}
    headers = {"X-Amz-Invocation-Type": "RequestResponse"}
    for index in range(count):
        response_headers: dict[str, str] = {}
        _invoke_at(
            backend, function, qualifier, "{}", headers, response_headers, start + step * index
        )
        executed = response_headers.get("x-amz-executed-version", fallback_version)
        counts = totals.setdefault(executed, [0, 0])
        counts[0] += 1
        counts[1] += "x-amz-function-error" in response_headers
    end = start + duration
    STATE.clock.set(end)
    return TrafficSummary(
        function=function,
        qualifier=qualifier,
        start=start,
        end=end,
        by_version={version: VersionTraffic(*counts) for version, counts in totals.items()},
    )


def install() -> None:
    """Route moto's Lambda invocations through here and teach its CloudWatch percentiles."""
    global _installed, _moto_invoke
    with _lock:
        if _installed:
            return
        # The base-class invoke: look the version up, `fn.invoke` (which emulator.functions
        # answers in process for project handlers). The Docker-less backend moto runs here
        # overrides it with an echo, so both classes get the routing invoke.
        _moto_invoke = LambdaBackend.invoke
        LambdaBackend.invoke = _backend_invoke  # type: ignore[method-assign]
        LambdaSimpleBackend.invoke = _backend_invoke  # type: ignore[method-assign]
        LambdaResponse.invoke = _honouring_qualifier(LambdaResponse.invoke)  # type: ignore[method-assign]

        Statistics.get_statistics_for_type = _with_percentiles(  # type: ignore[method-assign,assignment]
            Statistics.get_statistics_for_type
        )
        Statistics.extended_statistics = property(_extended_statistics)  # type: ignore[attr-defined]
        CloudWatchResponse.get_metric_statistics = _remembering_extended_statistics(  # type: ignore[method-assign,assignment]
            CloudWatchResponse.get_metric_statistics
        )
        CloudWatchBackend.get_metric_statistics = _asking_for_extended_statistics(  # type: ignore[method-assign]
            CloudWatchBackend.get_metric_statistics
        )
        _installed = True


# --- invocation ---------------------------------------------------------------------------


def _honouring_qualifier(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """moto's Invoke handler reads `qualifier` (lower case): the `Qualifier` query parameter is
    lost, and a `qualifier` key in the payload is taken instead. Put the real one where it looks.
    """

    def invoke(self: Any) -> Any:
        self.querystring["qualifier"] = [self.querystring.get("Qualifier", [None])[0]]
        return original(self)

    return invoke


def _backend_invoke(
    self: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes | str | None:
    """Replacement for `LambdaBackend.invoke`: the boto3/HTTP `Invoke` path."""
    return _invoke_at(self, function_name, qualifier, body, headers, response_headers, None)


def _invoke_at(
    backend: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
    at: datetime | None,
) -> bytes | str | None:
    """One invocation, stamped at `at` (virtual now when None)."""
    primary = backend.get_function(function_name, qualifier)  # moto's lookup and its errors
    if is_project_function(primary):
        assert _moto_invoke is not None
        return _moto_invoke(backend, function_name, qualifier, body, headers, response_headers)  # type: ignore[no-any-return]
    target = _resolve(backend, primary, function_name, qualifier)
    invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
    payload = b""
    if invocation_type != "DryRun":
        result, errored = _simulate(target, at or STATE.clock.now())
        if invocation_type == "RequestResponse":
            payload = result
            if errored:
                response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = target.executed_version
    response_headers["Content-Length"] = str(len(payload))
    return payload


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name) or headers.get(name.lower())
    return str(value) if value else None


def _qualifier_in_request(function_name: str, qualifier: str | None) -> str | None:
    """The qualifier moto resolved: one inside the name or ARN wins over the parameter."""
    tail = function_name.split(":function:", 1)[-1]
    if ":" in tail:
        return tail.split(":", 1)[1]
    return qualifier


def _resolve(backend: Any, primary: Any, function_name: str, qualifier: str | None) -> _Target:
    name = primary.function_name
    requested = _qualifier_in_request(function_name, qualifier)
    if requested is None:
        return _Target(primary, LATEST, None, via_alias=False)
    if requested.upper() == LATEST:
        return _Target(primary, LATEST, f"{name}:{LATEST}", via_alias=False)
    if requested.isdigit():
        return _Target(primary, str(primary.version), f"{name}:{requested}", via_alias=False)
    alias = backend.get_alias(requested, name)
    chosen = _draw_version(alias)
    fn = primary if chosen == alias.function_version else backend.get_function(name, chosen)
    return _Target(fn, str(fn.version), f"{name}:{requested}", via_alias=True)


def _draw_version(alias: Any) -> str:
    """The version an alias invocation runs: an additional version with its weight, else primary."""
    routing = alias.routing_config if isinstance(alias.routing_config, dict) else {}
    weights = routing.get("AdditionalVersionWeights") or {}
    if not weights:
        return str(alias.function_version)
    draw = STATE.rng.random()
    cumulative = 0.0
    for version, weight in sorted(weights.items()):
        cumulative += float(weight)
        if draw < cumulative:
            return str(version)
    return str(alias.function_version)


@dataclass(frozen=True)
class _Behaviour:
    """How a runtime version behaves: failure probability and log-normal duration parameters."""

    error_rate: float
    mu: float
    sigma: float

    @classmethod
    def of(cls, version: RuntimeVersion | None) -> _Behaviour:
        p50 = version.duration_p50_ms if version else DEFAULT_DURATION_P50_MS
        p99 = version.duration_p99_ms if version else DEFAULT_DURATION_P99_MS
        p50 = max(p50, 0.001)
        sigma = max(math.log(max(p99, p50) / p50), 0.0) / _Z_99
        return cls(version.error_rate if version else 0.0, math.log(p50), sigma)


def _simulate(target: _Target, at: datetime) -> tuple[bytes, bool]:
    """Run a fleet function: cold start if due, outcome and duration, metrics. (payload, errored)"""
    fn = target.fn
    runtime_arn = runtime_version_arn_of(fn)
    runtime_version = STATE.catalog.by_arn(runtime_arn) if runtime_arn else None
    behaviour = _Behaviour.of(runtime_version)
    with _lock:
        if _is_cold_start(target, runtime_arn):
            _log_init_start(target, runtime_arn, runtime_version, at)
        duration_ms = round(STATE.rng.lognormvariate(behaviour.mu, behaviour.sigma), 2)
        error_rate = STATE.function_error_rates.get(
            (fn.function_name, runtime_arn or ""), behaviour.error_rate
        )
        errored = STATE.rng.random() < error_rate
        _record_metrics(target, at, duration_ms, errored)
    if not errored:
        return _SUCCESS_PAYLOAD, False
    error = {
        "errorMessage": f"RequestId: {uuid.uuid4()} Error: Runtime exited with error: exit status 1",
        "errorType": "Runtime.ExitError",
    }
    return json.dumps(error).encode(), True


def _is_cold_start(target: _Target, runtime_arn: str | None) -> bool:
    """True the first time an execution environment is needed for this exact configuration.

    Lambda recycles environments when code or configuration changes, and a version's runtime
    version changing is such a change: all of that is in the key.
    """
    fn = target.fn
    environments: set[tuple[Any, ...]] = lambda_backend(
        fn.account_id, fn.region
    ).__dict__.setdefault(_ENVIRONMENTS_ATTRIBUTE, set())
    key = (
        fn.function_name,
        target.executed_version,
        runtime_arn,
        fn.last_modified,  # creation / publication time: tells a re-created function apart
        getattr(fn, "code_sha_256", ""),
        fn.handler,
        fn.run_time,
        fn.memory_size,
        fn.timeout,
        fn.role,
        fn.description,
        tuple(fn.architectures),
        tuple(sorted((fn.environment_vars or {}).items())),
        repr(fn.layers),
        repr(getattr(fn, "_vpc_config", None)),
        tuple(sorted(logging_config(fn).items())),
    )
    if key in environments:
        return False
    environments.add(key)
    return True


def _log_init_start(
    target: _Target, runtime_arn: str | None, runtime_version: RuntimeVersion | None, at: datetime
) -> None:
    """Write Lambda's cold-start record to a fresh stream of the function's log group.

    The function version's `LoggingConfig` decides where and how, as on AWS: `LogGroup` (default
    `/aws/lambda/<name>`) and `LogFormat` — Text writes the `INIT_START` line, JSON the
    `platform.initStart` record (Telemetry API event schema). Written to the log group
    directly: moto's PutLogEvents refuses timestamps more than two hours past the real clock,
    and the virtual clock is often days ahead.
    """
    if runtime_arn is None:
        return  # container images print no runtime version
    fn = target.fn
    config = logging_config(fn)
    logs = logs_backends[fn.account_id][fn.region]
    group_name = config["LogGroup"]
    logs.ensure_log_group(group_name)
    group = logs.groups[group_name]
    stream = f"{at:%Y/%m/%d}/[{target.executed_version}]{STATE.rng.getrandbits(128):032x}"
    group.create_log_stream(stream)
    name = runtime_version.name if runtime_version else fn.run_time
    if config["LogFormat"] == JSON_FORMAT:
        message = json.dumps(
            {
                "time": f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.}{at.microsecond // 1000:03d}Z",
                "type": "platform.initStart",
                "record": {
                    "initializationType": "on-demand",
                    "phase": "init",
                    "runtimeVersion": name,
                    "runtimeVersionArn": runtime_arn,
                    "functionName": fn.function_name,
                    "functionVersion": target.executed_version,
                },
            }
        )
    else:
        message = f"INIT_START Runtime Version: {name}\tRuntime Version ARN: {runtime_arn}\n"
    group.put_log_events(stream, [{"timestamp": _epoch_millis(at), "message": message}])


def _epoch_millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


# --- metrics ------------------------------------------------------------------------------


class _MinuteDatum(MetricAggregatedDatum):
    """moto's statistic-set datum for one (metric, dimensions, minute), filled in place.

    Visible to GetMetricData as soon as it exists, so nothing needs flushing; Duration datums
    also keep their individual values, which is what percentiles are computed from.
    """

    def __init__(
        self,
        name: str,
        dimensions: tuple[tuple[str, str], ...],
        minute: datetime,
        unit: str,
        keep_values: bool,
    ) -> None:
        super().__init__(
            namespace=NAMESPACE,
            name=name,
            min_stat=math.inf,
            max_stat=-math.inf,
            sample_count=0.0,
            sum_stat=0.0,
            dimensions=[{"Name": key, "Value": value} for key, value in dimensions],
            timestamp=minute,
            unit=unit,
        )
        self.values: list[float] | None = [] if keep_values else None

    def add(self, value: float) -> None:
        self.sample_count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if self.values is not None:
            self.values.append(value)


def _dimension_sets(target: _Target) -> list[tuple[tuple[str, str], ...]]:
    """Lambda's dimension sets for one invocation: `Resource` only when the request was
    qualified, `ExecutedVersion` only through an alias (that is what weighted canaries read)."""
    name = target.fn.function_name
    sets: list[tuple[tuple[str, str], ...]] = [(("FunctionName", name),)]
    if target.resource is not None:
        sets.append((("FunctionName", name), ("Resource", target.resource)))
        if target.via_alias:
            sets.append(
                (
                    ("FunctionName", name),
                    ("Resource", target.resource),
                    ("ExecutedVersion", target.executed_version),
                )
            )
    return sets


def _record_metrics(target: _Target, at: datetime, duration_ms: float, errored: bool) -> None:
    fn = target.fn
    cloudwatch = cloudwatch_backends[fn.account_id][fn.region]
    minutes: dict[tuple[Any, ...], Any] = cloudwatch.__dict__.setdefault(_MINUTES_ATTRIBUTE, {})
    # moto compares naive UTC timestamps.
    minute = at.astimezone(UTC).replace(tzinfo=None, second=0, microsecond=0)
    samples = (
        ("Invocations", 1.0, "Count"),
        ("Errors", 1.0 if errored else 0.0, "Count"),
        ("Throttles", 0.0, "Count"),
        ("Duration", duration_ms, "Milliseconds"),
    )
    for dimensions in _dimension_sets(target):
        for metric, value, unit in samples:
            key = (metric, dimensions, minute)
            datum = minutes.get(key)
            if datum is None:
                datum = _MinuteDatum(metric, dimensions, minute, unit, metric == "Duration")
                cloudwatch.metric_data.append(datum)
                minutes[key] = datum
            datum.add(value)


def _percentile_values(data: list[Any]) -> list[float]:
    """The values a percentile can be computed from.

    Single values and the durations our minute datums keep; a statistic set someone else put
    counts only when it pins its values down (SampleCount 1, or Min == Max), as in CloudWatch.
    """
    values: list[float] = []
    for datum in data:
        if isinstance(datum, MetricDatum):
            values.append(datum.value)
        elif isinstance(datum, _MinuteDatum) and datum.values is not None:
            values.extend(datum.values)
        elif isinstance(datum, MetricAggregatedDatum) and (
            datum.sample_count == 1 or datum.min == datum.max
        ):
            values.extend([datum.min] * int(datum.sample_count))
    return values


def _percentile(stat: str, data: list[Any]) -> float | None:
    """Nearest-rank percentile `stat` (`p99`, `p99.9`) of `data`; None if not a percentile stat
    or nothing to compute it from."""
    match = _PERCENTILE_STAT.match(stat)
    if match is None:
        return None
    values = sorted(_percentile_values(data))
    if not values:
        return None
    rank = math.ceil(float(match.group(1)) / 100 * len(values))
    return values[min(max(rank, 1), len(values)) - 1]


def _with_percentiles(original: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    def get_statistics_for_type(self: Any, stat: str) -> Any:
        if _PERCENTILE_STAT.match(stat):
            return _percentile(stat, self.metric_data)
        return original(self, stat)

    return get_statistics_for_type


def _extended_statistics(self: Any) -> dict[str, float] | None:
    """`Datapoint.ExtendedStatistics` for the percentiles the request asked for."""
    wanted = [stat for stat in self.stats if _PERCENTILE_STAT.match(stat)]
    result = {stat: _percentile(stat, self.metric_data) for stat in wanted}
    found = {stat: value for stat, value in result.items() if value is not None}
    return found or None


def _remembering_extended_statistics(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def get_metric_statistics(self: Any) -> Any:
        extended = tuple(self._get_param("ExtendedStatistics") or ())
        token = _REQUESTED_EXTENDED.set(extended)
        try:
            return original(self)
        finally:
            _REQUESTED_EXTENDED.reset(token)

    return get_metric_statistics


def _asking_for_extended_statistics(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_metric_statistics(
        self: Any,
        namespace: str,
        metric_name: str,
        start_time: datetime,
        end_time: datetime,
        period: int,
        stats: list[str],
        dimensions: list[dict[str, str]],
        unit: str | None = None,
    ) -> Any:
        stats = list(stats) + [s for s in _REQUESTED_EXTENDED.get() if s not in stats]
        return original(
            self, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit
        )

    return get_metric_statistics
