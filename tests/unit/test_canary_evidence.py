"""What the fixed-horizon judge reads: a version's totals, and its duration p99 over the window.

The fake below answers GetMetricData the way CloudWatch does for `AWS/Lambda`: StartTime rounded
down to the minute, then per period sums of counts and a percentile from every duration of the
period. `python -m bench.p99_window` measures what reading p99 per minute cost.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from rollforward.canary.evidence import sample, whole_window
from rollforward.canary.judge import JudgePolicy, Outcome, judge
from rollforward.canary.state import CanaryState
from rollforward.ports import MetricQuery

START = datetime(2026, 12, 3, 12, 0, 59, tzinfo=UTC)  # a bake starts within a minute, as they do
BAKE = timedelta(minutes=10)


class DurationsCloudWatch:
    """`Signals.metric_series` over invocations stamped per executed version."""

    def __init__(self) -> None:
        self.invocations: dict[str, list[tuple[datetime, float]]] = {}
        self.calls = 0

    def invoke(self, version: str, at: datetime, duration_ms: float) -> None:
        self.invocations.setdefault(version, []).append((at, duration_ms))

    def metric_series(
        self, queries: Iterable[MetricQuery], start: datetime, end: datetime
    ) -> dict[str, dict[datetime, float]]:
        self.calls += 1
        series: dict[str, dict[datetime, float]] = {}
        for query in queries:
            stamped = sorted(self.invocations.get(dict(query.dimensions)["ExecutedVersion"], []))
            times = [at for at, _ in stamped]
            points: dict[datetime, float] = {}
            period = timedelta(seconds=query.period)
            at = start.replace(second=0, microsecond=0)  # GetMetricData rounds down
            while at < end:
                durations = sorted(
                    d for _, d in stamped[bisect_left(times, at) : bisect_left(times, at + period)]
                )
                if durations:
                    points[at] = _statistic(query, durations)
                at += period
            series[query.id] = points
        return series


def _statistic(query: MetricQuery, durations: list[float]) -> float:
    if query.stat == "p99":  # nearest rank, as the embedded CloudWatch computes it
        return durations[math.ceil(0.99 * len(durations)) - 1]
    return float(len(durations)) if query.metric == "Invocations" else 0.0


def _state() -> CanaryState:
    return CanaryState(alias="live", candidate_version="2", baseline_version="1")


def _sample(watch: DurationsCloudWatch, version: str) -> Any:
    ctx: Any = SimpleNamespace(signals=watch)
    pin: Any = SimpleNamespace(key=SimpleNamespace(function_name="orders"))
    return sample(ctx, pin, _state(), version, START, START + BAKE)


def _bake(watch: DurationsCloudWatch, rng: random.Random, *, candidate_share: float) -> None:
    """Ten minutes at 14 rps through the alias, durations log-normal (p50 40 ms, p99 120 ms)."""
    mu, sigma = math.log(40), (math.log(120) - math.log(40)) / 2.326
    count = 14 * 600
    for index in range(count):
        version = "2" if rng.random() < candidate_share else "1"
        watch.invoke(version, START + BAKE * (index / count), rng.lognormvariate(mu, sigma))


def test_one_slow_invocation_in_a_sparse_edge_minute_is_not_the_windows_p99() -> None:
    """The bake starts a second before a minute ends: that minute holds five invocations, one of
    them slow. A per-minute p99 is that one (400 ms, a FAIL against any healthy baseline)."""
    watch = DurationsCloudWatch()
    for i in range(3000):  # 5 a second, between 30 and 100 ms
        watch.invoke("2", START + timedelta(seconds=i / 5), 30.0 + (i % 71))
    watch.invocations["2"][2] = (watch.invocations["2"][2][0], 400.0)

    candidate = _sample(watch, "2")

    assert candidate.invocations == 3000
    assert candidate.duration_p99_ms is not None and candidate.duration_p99_ms <= 100
    assert watch.calls == 1  # totals and the p99 in one GetMetricData request


def test_a_slower_candidate_still_fails_on_its_p99() -> None:
    watch = DurationsCloudWatch()
    _bake(watch, random.Random(7), candidate_share=0.4)
    watch.invocations["2"] = [(at, duration * 2.5) for at, duration in watch.invocations["2"]]

    verdict = judge(_sample(watch, "2"), _sample(watch, "1"), [], JudgePolicy())

    assert verdict.outcome is Outcome.FAIL
    assert any("p99" in reason for reason in verdict.reasons)


@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)),
)
def test_the_whole_window_is_one_minute_aligned_period_that_covers_it(
    start: datetime, length: timedelta
) -> None:
    first, period = whole_window(start, start + length)
    assert first.second == first.microsecond == 0 and first <= start
    assert period % 60 == 0 and period >= 60
    assert first + timedelta(seconds=period) >= start + length
    assert period == 60 or first + timedelta(seconds=period - 60) < start + length  # no wider
