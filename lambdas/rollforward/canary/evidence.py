"""What the canary judges on: `AWS/Lambda` metrics per version, and INIT_START proof.

Metrics are per minute, split by `ExecutedVersion` on the alias, so candidate and baseline are
compared over the same minutes; a duration p99 is one datapoint over the whole window (see
`whole_window`). INIT_START is the ground truth of which runtime really ran.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from rollforward.canary.context import CanaryContext
from rollforward.canary.initstart import log_source, parse_init_start
from rollforward.canary.judge import VersionSample
from rollforward.canary.state import CanaryState
from rollforward.clock import parse_iso
from rollforward.ledger import Pin
from rollforward.ports import MetricQuery

# What `sample` sums per version, minute by minute: query id -> (metric, statistic).
VERSION_METRICS = {
    "invocations": ("Invocations", "Sum"),
    "errors": ("Errors", "Sum"),
    "throttles": ("Throttles", "Sum"),
}
UNQUALIFIED_METRICS = {"invocations": ("Invocations", "Sum"), "errors": ("Errors", "Sum")}


def version_dimensions(pin: Pin, alias: str, version: str) -> tuple[tuple[str, str], ...]:
    name = pin.key.function_name
    return (
        ("FunctionName", name),
        ("Resource", f"{name}:{alias}"),
        ("ExecutedVersion", version),
    )


def whole_window(start: datetime, end: datetime) -> tuple[datetime, int]:
    """The first minute and the period (seconds, a multiple of 60) of one datapoint that covers
    [start, end]: what a percentile over a window is read with.

    The maximum of per-minute p99s is no p99 of the window: a minute that holds a handful of
    a version's invocations (the minutes at the window's edges) has its slowest invocation for
    "p99", and the maximum of ten such values failed healthy candidates about 1 % of the time
    (`tests/unit/test_canary_evidence.py`). CloudWatch computes a percentile over a longer period
    from all its durations. The start is the minute's: GetMetricData rounds StartTime down to the
    minute, so the period ends where this says.
    """
    first = start.replace(second=0, microsecond=0)
    minutes = max(1, math.ceil((end - first).total_seconds() / 60))
    return first, 60 * minutes


def metric_values(
    ctx: CanaryContext,
    dimensions: tuple[tuple[str, str], ...],
    stats: dict[str, tuple[str, str]],
    start: datetime,
    end: datetime,
) -> dict[str, list[float]]:
    """Per-minute values (oldest first) by query id: `stats` maps id -> (metric, statistic)."""
    queries = [
        MetricQuery(query_id, metric, stat, dimensions)
        for query_id, (metric, stat) in stats.items()
    ]
    series = ctx.signals.metric_series(queries, start, end)
    return {query_id: [v for _, v in sorted(points.items())] for query_id, points in series.items()}


def sample(
    ctx: CanaryContext, pin: Pin, state: CanaryState, version: str, start: datetime, end: datetime
) -> VersionSample:
    """One version's totals on the alias over [start, end] (a minute of slack each side), and
    its duration p99 over that whole window; one GetMetricData call."""
    dimensions = version_dimensions(pin, state.alias, version)
    first, period = whole_window(start - timedelta(minutes=1), end + timedelta(minutes=1))
    queries = [
        MetricQuery(query_id, metric, stat, dimensions)
        for query_id, (metric, stat) in VERSION_METRICS.items()
    ]
    queries.append(MetricQuery("p99", "Duration", "p99", dimensions, period))
    series = ctx.signals.metric_series(queries, first, first + timedelta(seconds=period))
    values = {query_id: list(points.values()) for query_id, points in series.items()}
    p99s = values.get("p99") or []
    invocations = int(sum(values.get("invocations", [])))
    return VersionSample(
        invocations=invocations,
        errors=min(invocations, int(sum(values.get("errors", [])))),
        throttles=int(sum(values.get("throttles", []))),
        duration_p99_ms=max(p99s) if p99s else None,
    )


def unqualified_sample(
    ctx: CanaryContext, pin: Pin, start: datetime, end: datetime
) -> VersionSample:
    """The function's own totals, whatever version served (synthetic strategy's bake)."""
    values = metric_values(
        ctx, (("FunctionName", pin.key.function_name),), UNQUALIFIED_METRICS, start, end
    )
    invocations = int(sum(values.get("invocations", [])))
    return VersionSample(
        invocations=invocations, errors=min(invocations, int(sum(values.get("errors", []))))
    )


def qualified_sample(
    ctx: CanaryContext, pin: Pin, qualifier: str, start: datetime, end: datetime
) -> VersionSample:
    """One published version's totals when invoked by its qualifier (`Resource` `name:N`)."""
    name = pin.key.function_name
    values = metric_values(
        ctx,
        (("FunctionName", name), ("Resource", f"{name}:{qualifier}")),
        UNQUALIFIED_METRICS,
        start,
        end,
    )
    invocations = int(sum(values.get("invocations", [])))
    return VersionSample(
        invocations=invocations, errors=min(invocations, int(sum(values.get("errors", []))))
    )


def ran_new_runtime(ctx: CanaryContext, pin: Pin, state: CanaryState, end: datetime) -> bool:
    """An INIT_START line shows the candidate version on the candidate runtime ARN.

    Searched where the candidate version logs, in its format (its `LoggingConfig`): a custom
    group or the JSON format must not read as "no cold start on the new runtime".
    """
    source = log_source(ctx.lam.configuration(pin.key.function_name, state.candidate_version))
    start = parse_iso(state.started_at or state.window_start) - timedelta(minutes=1)
    for event in ctx.signals.log_events(
        source.log_group,
        filter_pattern=source.filter_pattern,
        start=start,
        end=end + timedelta(minutes=1),
    ):
        init = parse_init_start(
            str(event.get("message", "")), log_stream_name=event.get("logStreamName")
        )
        if (
            init
            and init.runtime_version_arn == state.candidate_runtime_arn
            and init.function_version in (None, state.candidate_version)
        ):
            return True
    return False
