"""`AWS/Lambda` metrics of each invocation, in moto's CloudWatch with Lambda's dimension sets
(one statistic set per metric, dimensions and minute), and the percentiles moto's CloudWatch
lacks (`p99` in GetMetricData, `ExtendedStatistics` in GetMetricStatistics)."""

from __future__ import annotations

import contextvars
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.cloudwatch.models import (
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    Statistics,
    cloudwatch_backends,
)
from moto.cloudwatch.responses import CloudWatchResponse

from emulator.state import STATE

NAMESPACE = "AWS/Lambda"

_PERCENTILE_STAT = re.compile(r"^p(100|\d{1,2}(?:\.\d+)?)$")

_MINUTES_ATTRIBUTE = "_rollforward_lambda_minutes"
# ExtendedStatistics of the GetMetricStatistics request being answered (moto drops them).
_REQUESTED_EXTENDED: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "rollforward_extended_statistics", default=()
)


@dataclass(frozen=True)
class _Target:
    """Where one invocation landed: the moto object of the executed version and its metric names."""

    fn: Any
    executed_version: str
    resource: str | None  # `Resource` dimension: `name:alias` / `name:3`; None when unqualified
    via_alias: bool  # Lambda publishes `ExecutedVersion` only for alias invocations


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


def rounded_start(start: datetime, now: datetime) -> datetime:
    """StartTime as CloudWatch reads it (GetMetricData / GetMetricStatistics `StartTime`): rounded
    down to the minute when less than 15 days ago, to the 5-minute clock interval up to 63 days,
    to the hour beyond. moto reads it to the second, so a request starting mid-minute missed
    that minute's datapoint and its periods started mid-minute."""
    aware = start if start.tzinfo else start.replace(tzinfo=UTC)
    age = now - aware
    step = 60 if age < timedelta(days=15) else 300 if age < timedelta(days=63) else 3600
    seconds = math.floor(aware.timestamp())
    rounded = datetime.fromtimestamp(seconds - seconds % step, UTC)
    return rounded if start.tzinfo else rounded.replace(tzinfo=None)


def _rounding_start(original: Callable[..., Any]) -> Callable[..., Any]:
    """The backend method with its `start_time` rounded as CloudWatch rounds it."""

    names = list(inspect.signature(original).parameters)[1:]

    def method(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        bound = dict(zip(names, args, strict=False)) | kwargs
        bound["start_time"] = rounded_start(bound["start_time"], STATE.clock.now())
        return original(self, **bound)

    return method


def install_percentiles() -> None:
    """Teach moto's CloudWatch percentiles (once; `emulator.traffic.install`)."""
    Statistics.get_statistics_for_type = _with_percentiles(  # type: ignore[method-assign,assignment]
        Statistics.get_statistics_for_type
    )
    Statistics.extended_statistics = property(_extended_statistics)  # type: ignore[attr-defined]
    CloudWatchResponse.get_metric_statistics = _remembering_extended_statistics(  # type: ignore[method-assign,assignment]
        CloudWatchResponse.get_metric_statistics
    )
    CloudWatchBackend.get_metric_statistics = _asking_for_extended_statistics(  # type: ignore[method-assign]
        _rounding_start(CloudWatchBackend.get_metric_statistics)
    )
    CloudWatchBackend.get_metric_data = _rounding_start(CloudWatchBackend.get_metric_data)  # type: ignore[method-assign]
