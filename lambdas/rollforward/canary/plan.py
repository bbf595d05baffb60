"""The canary plan: weights and step lengths from the function's own traffic, before approval.

Pure domain code. The caller reads CloudWatch `Invocations` (Sum, period 1 hour) over recent
days — and `Errors` the same way if it has them — and hands the hourly counts here with the
policy's canary settings. The plan says how long a healthy candidate should take to PASS the
sequential judge, and, where the function's traffic cannot get there within
`canary.max_duration`, says so in one sentence for the approval request, the notice and the
console, with the options a human has.

How much traffic a decision takes
---------------------------------
A healthy candidate passes once the judge's "healthy" e-process reaches 1 / false_pass. Its
absolute part grows per candidate invocation by, in expectation,

    D = q ln(a0 / a1) + (1 - q) ln((1 - a0) / (1 - a1))

at the candidate's error rate q: the function's recent rate when its hourly errors are given,
else the tolerated floor a0 (a pessimistic guess for a function that rarely errs). Its relative
part grows by (q / w) KL(w || p1) per candidate invocation at
weight w, where p1 is the candidate's share of errors under the guarded ratio: the more errors
the baseline makes, the faster. The PASS e-process is their mean, so the plan counts on the
faster of the two and needs N = ln(2 / false_pass) / max(D, relative), and at least the judge's
`min_pass_invocations`. This is an expectation: the bench (`python -m bench.judge`) shows the
spread.

The schedule
------------
The weights are the policy's `canary.steps` (the owner's blast-radius choice). Every step before
the last holds its weight for the same time T, in whole look intervals; the last step runs until
the plan's end, `max_duration`. T = N / (mean hourly traffic x sum of weights): with equal time
per weight a healthy candidate is expected to PASS one T into the last step. T is at least one
`bake` and at most half the window shared by the early steps, so the last step keeps the other
half (T is continuous and non-increasing in traffic, hence so is the expected end). When N
cannot be served within `max_duration`, the plan is not feasible and its sentence says how long
an unattended canary would need with the early steps at one bake each. The expected end walks
the function's mean day hour by hour. The judge may decide at any look: a PASS during an early
step promotes at once (the evidence already rules out the guarded regression), a FAIL rolls back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from rollforward.policy import CanarySettings, format_duration

_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One weight of the canary, held for `duration` (the last step: until the plan's end)."""

    weight: float
    duration: timedelta
    expected_candidate_invocations: float


@dataclass(frozen=True, slots=True)
class CanaryPlan:
    """What the canary will do and how long it should take, in numbers and one sentence."""

    steps: tuple[PlanStep, ...]
    look_interval: timedelta
    max_duration: timedelta
    invocations_per_day: float
    error_rate_assumed: float
    needed_candidate_invocations: int
    expected_duration: timedelta | None  # to a healthy PASS; None: not within the plan
    needed_duration: timedelta | None  # the fastest schedule's; None: no traffic at all
    feasible: bool
    summary: str

    @property
    def duration(self) -> timedelta:
        """The plan's end: the last look, where the judge may say INCONCLUSIVE."""
        return sum((step.duration for step in self.steps), timedelta(0))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: durations as compact strings (`"1h30m"`), for state and the console."""
        return {
            "steps": [
                {
                    "weight": step.weight,
                    "duration": format_duration(step.duration),
                    "expected_candidate_invocations": round(step.expected_candidate_invocations),
                }
                for step in self.steps
            ],
            "look_interval": format_duration(self.look_interval),
            "max_duration": format_duration(self.max_duration),
            "duration": format_duration(self.duration),
            "invocations_per_day": round(self.invocations_per_day, 1),
            "error_rate_assumed": self.error_rate_assumed,
            "needed_candidate_invocations": self.needed_candidate_invocations,
            "expected_duration": None
            if self.expected_duration is None
            else format_duration(self.expected_duration),
            "needed_duration": None
            if self.needed_duration is None
            else format_duration(self.needed_duration),
            "feasible": self.feasible,
            "summary": self.summary,
        }


def _counts(name: str, values: Sequence[int] | None) -> list[int]:
    if values is None:
        return []
    result = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}[{i}] must be a non-negative int, not {value!r}")
        result.append(value)
    return result


def needed_candidate_invocations(settings: CanarySettings, error_rate: float, weight: float) -> int:
    """Expected candidate invocations until a healthy candidate erring at `error_rate` PASSes
    at `weight` (the module docstring's N)."""
    policy = settings.sequential_policy()
    a0, a1 = policy.tolerated_error_rate, policy.guarded_error_rate
    q = error_rate
    absolute = (q * math.log(a0 / a1) if q else 0.0) + (1 - q) * (math.log1p(-a0) - math.log1p(-a1))
    p0 = weight  # equal rates: the candidate's share of errors is its share of traffic
    p1 = policy.share(policy.guarded_ratio, weight)
    relative = (q / weight) * (p0 * math.log(p0 / p1) + (1 - p0) * math.log((1 - p0) / (1 - p1)))
    growth = max(absolute, relative)
    if growth <= 0:
        return 0  # cannot happen for q below 1 and a valid policy; kept for robustness
    needed = math.log(2 / policy.false_pass) / growth
    return max(policy.min_pass_invocations, math.ceil(needed))


def plan_canary(
    hourly_invocations: Sequence[int],
    settings: CanarySettings,
    hourly_errors: Sequence[int] | None = None,
) -> CanaryPlan:
    """Plan a canary from the function's recent hourly `Invocations` (oldest first, ending with
    the last full hour before the canary would start; missing hours are zeros) and, optionally,
    its hourly `Errors` over the same hours. Step lengths come from the mean traffic; the
    expected end walks the mean day (hour by hour from the canary's start), so a function busy
    only in office hours is not promised a night-time decision."""
    invocations = _counts("hourly_invocations", hourly_invocations)
    errors = _counts("hourly_errors", hourly_errors)
    if not invocations:
        raise ValueError("hourly_invocations is empty: read at least a day of history")
    if errors and len(errors) != len(invocations):
        raise ValueError(
            f"hourly_errors has {len(errors)} hours, hourly_invocations {len(invocations)}: "
            "read both over the same hours"
        )
    total = sum(invocations)
    if errors and sum(errors) > total:
        raise ValueError("more errors than invocations: read both over the same hours")
    per_hour = total / len(invocations)
    per_day = per_hour * 24
    floor = settings.tolerated_error_rate
    rate = (sum(errors) / total) if (errors and total) else floor
    weights = settings.steps
    last = weights[-1]
    # The last step carries most of the evidence: plan at its weight (conservative for earlier,
    # smaller weights, whose larger baseline makes the relative part faster).
    needed = needed_candidate_invocations(settings, min(rate, 0.5), last)
    step_floor = settings.bake
    maximum = settings.max_duration

    profile = _Profile.of(invocations)
    if per_hour == 0:
        steps = _schedule(weights, step_floor, maximum, profile)
        sentence = (
            f"no invocations in the last {_days(len(invocations))}: an unattended canary cannot "
            f"decide; options: {_OPTIONS}"
        )
        return CanaryPlan(
            steps, settings.look_interval, maximum, 0.0, rate, needed, None, None, False, sentence
        )

    equal = timedelta(hours=needed / (per_hour * sum(weights)))
    # Early steps together take at most half the window, so the last step keeps the other half;
    # the length is continuous and non-increasing in traffic, hence so is the expected end.
    cap = maximum / (2 * (len(weights) - 1)) if len(weights) > 1 else maximum
    early = max(step_floor, min(equal, cap))
    fastest_early = step_floor
    served_early = per_hour * sum(weights[:-1]) * (fastest_early / _HOUR)
    needed_total = fastest_early * (len(weights) - 1) + timedelta(
        hours=max(0.0, needed - served_early) / (per_hour * last)
    )
    step_length = early
    # Weights change at looks: whole look intervals per step.
    step_length = settings.look_interval * math.ceil(step_length / settings.look_interval)
    steps = _schedule(weights, step_length, maximum, profile)
    expected = profile.time_to_serve(steps, needed)
    feasible = expected is not None
    ladder = " → ".join(f"{100 * w:g}%" for w in weights)
    if feasible and expected is not None:
        sentence = (
            f"~{_count(per_day)} invocations/day: a healthy candidate should pass in "
            f"~{_human(expected)} (~{needed:,} candidate invocations at {ladder}, looked at "
            f"every {format_duration(settings.look_interval)}); the canary ends undecided after "
            f"{format_duration(maximum)}"
        )
    else:
        sentence = (
            f"~{_count(per_day)} invocations/day: an unattended canary would need "
            f"~{_human(needed_total)} (~{needed:,} candidate invocations at up to "
            f"{100 * last:g}%), more than canary.max_duration ({format_duration(maximum)}); "
            f"options: {_OPTIONS}"
        )
    return CanaryPlan(
        steps,
        settings.look_interval,
        maximum,
        per_day,
        rate,
        needed,
        expected,
        needed_total,
        feasible,
        sentence,
    )


_OPTIONS = "test events, a longer window, or accept untested"


def unavailable_summary(settings: CanarySettings, reason: str) -> str:
    """The sentence when the function's traffic could not be read before approval (say, the
    member account's role does not allow `cloudwatch:GetMetricData` yet): the request goes out
    all the same, saying so; the canary plans from the traffic when it starts."""
    return (
        f"the function's traffic could not be read ({reason}): the canary plans from it when it "
        f"starts and ends undecided after {format_duration(settings.max_duration)} if too little "
        f"comes; options: {_OPTIONS}"
    )


def no_alias_summary(*, several: bool, test_events_tag: str, has_test_events: bool) -> str:
    """The sentence for a function the alias strategy cannot canary: several aliases and none
    tagged (preflight will refuse), or no alias at all (the synthetic strategy: the owner's
    test events, then a bake of `$LATEST`)."""
    if several:
        return (
            "several aliases and none tagged rollforward:alias: the canary will refuse until "
            "the alias that takes the traffic is tagged"
        )
    if has_test_events:
        return (
            "no alias: the canary invokes the owner's test events, then bakes $LATEST on the "
            "new runtime with automatic rollback"
        )
    return (
        f"no alias and no test events (tag {test_events_tag}): an unattended canary cannot "
        f"judge the new runtime; options: {_OPTIONS}"
    )


@dataclass(frozen=True, slots=True)
class _Profile:
    """Mean invocations per hour of day, the canary starting at hour `start` of that cycle."""

    per_hour: tuple[float, ...]
    start: int

    @classmethod
    def of(cls, invocations: Sequence[int]) -> _Profile:
        mean = sum(invocations) / len(invocations)
        hours = []
        for hour in range(24):
            seen = invocations[hour::24]
            hours.append(sum(seen) / len(seen) if seen else mean)
        return cls(tuple(hours), len(invocations) % 24)

    def served(self, begin: timedelta, length: timedelta, weight: float) -> float:
        """Expected candidate invocations at `weight` from `begin` for `length`."""
        total, at, end = 0.0, begin / _HOUR, (begin + length) / _HOUR
        while at < end:
            boundary = min(end, math.floor(at) + 1.0)
            total += self.per_hour[(self.start + math.floor(at)) % 24] * weight * (boundary - at)
            at = boundary
        return total

    def time_to_serve(self, steps: Sequence[PlanStep], needed: int) -> timedelta | None:
        """When the schedule has served `needed` candidate invocations, if ever."""
        served, begin = 0.0, timedelta(0)
        for step in steps:
            at, end = begin / _HOUR, (begin + step.duration) / _HOUR
            while at < end:
                boundary = min(end, math.floor(at) + 1.0)
                rate = self.per_hour[(self.start + math.floor(at)) % 24] * step.weight
                if rate and served + rate * (boundary - at) >= needed:
                    return timedelta(hours=at + (needed - served) / rate)
                served += rate * (boundary - at)
                at = boundary
            begin += step.duration
        return None


def _schedule(
    weights: Sequence[float], step_length: timedelta, maximum: timedelta, profile: _Profile
) -> tuple[PlanStep, ...]:
    """Early steps of `step_length` (shrunk evenly if they alone would overrun `maximum`), the
    last step to `maximum`."""
    early_count = len(weights) - 1
    if early_count and step_length * early_count >= maximum:
        step_length = maximum / (early_count + 1)
    steps, begin = [], timedelta(0)
    for i, weight in enumerate(weights):
        length = step_length if i < early_count else maximum - step_length * early_count
        steps.append(PlanStep(weight, length, profile.served(begin, length, weight)))
        begin += length
    return tuple(steps)


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def _days(hours: int) -> str:
    return f"{hours // 24} days" if hours >= 48 else f"{hours} hours"


def _human(value: timedelta) -> str:
    """A rounded duration for people: `12 days`, `3.5 hours`, `40 minutes`."""
    hours = value / _HOUR
    if hours >= 48:
        return f"{round(hours / 24):,} days"
    if hours >= 2:
        return f"{hours:.2g} hours" if hours < 10 else f"{round(hours)} hours"
    return f"{max(1, math.ceil(hours * 60))} minutes"
