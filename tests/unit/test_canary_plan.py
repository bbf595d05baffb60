"""The canary plan from a function's own traffic, and the canary judge settings in the policy."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollforward.canary.plan import needed_candidate_invocations, plan_canary
from rollforward.canary.sequential_judge import Evidence, error_free_invocations_to_pass
from rollforward.policy import Policy, PolicyError

CANARY = Policy.default().canary
WEEK = 7 * 24


def steady(per_hour: int, hours: int = WEEK) -> list[int]:
    return [per_hour] * hours


def test_a_quiet_function_is_told_before_approval_how_long_it_would_take() -> None:
    # ~40 invocations a day, bunched into office hours.
    day = [0] * 8 + [4] * 10 + [0] * 6
    plan = plan_canary(day * 7, CANARY)
    assert not plan.feasible
    assert plan.expected_duration is None
    assert plan.summary.startswith("~40 invocations/day: an unattended canary would need ~")
    assert "days" in plan.summary
    assert plan.summary.endswith("options: test events, a longer window, or accept untested")
    assert plan.needed_duration is not None and plan.needed_duration > CANARY.max_duration


def test_a_busy_function_gets_the_policy_ladder_and_an_expected_end() -> None:
    plan = plan_canary(steady(3_000), CANARY)
    assert plan.feasible
    assert [step.weight for step in plan.steps] == list(CANARY.steps)
    assert plan.duration == CANARY.max_duration
    assert plan.expected_duration is not None
    assert plan.expected_duration < timedelta(hours=2)
    assert "a healthy candidate should pass in ~" in plan.summary
    served = sum(step.expected_candidate_invocations for step in plan.steps)
    assert served >= plan.needed_candidate_invocations


def test_the_expected_end_walks_the_functions_day() -> None:
    office = [0] * 8 + [900] * 8 + [0] * 8  # 7,200 a day, all between 08:00 and 16:00
    at_midnight = plan_canary(office * 7, CANARY)  # the series ends at 24:00: start at 00:00
    at_eight = plan_canary(office * 7 + office[:8], CANARY)  # ends at 08:00: start at 08:00
    assert at_midnight.expected_duration is not None and at_eight.expected_duration is not None
    assert at_midnight.expected_duration >= timedelta(hours=8)  # nothing is served before 08:00
    assert at_eight.expected_duration < at_midnight.expected_duration
    quiet_steps = at_midnight.steps[:-1]
    assert sum(step.expected_candidate_invocations for step in quiet_steps) < 1e-9


def test_no_traffic_at_all_says_so() -> None:
    plan = plan_canary(steady(0, 48), CANARY)
    assert not plan.feasible
    assert plan.summary.startswith("no invocations in the last 2 days")


@settings(max_examples=60, deadline=None)
@given(low=st.integers(1, 20_000), extra=st.integers(1, 20_000))
def test_more_traffic_never_takes_longer(low: int, extra: int) -> None:
    slow, fast = plan_canary(steady(low, 24), CANARY), plan_canary(steady(low + extra, 24), CANARY)
    if slow.feasible:
        assert fast.feasible
        assert fast.expected_duration is not None and slow.expected_duration is not None
        assert fast.expected_duration <= slow.expected_duration
    assert fast.duration == slow.duration == CANARY.max_duration


@settings(max_examples=60, deadline=None)
@given(hours=st.lists(st.integers(0, 100_000), min_size=1, max_size=WEEK))
def test_plans_are_json_and_never_outlast_the_policy(hours: list[int]) -> None:
    plan = plan_canary(hours, CANARY)
    json.dumps(plan.to_dict())
    assert plan.duration <= CANARY.max_duration
    assert all(step.duration > timedelta(0) for step in plan.steps)
    if plan.expected_duration is not None:
        assert plan.expected_duration <= plan.duration


def test_the_zero_error_count_matches_the_judges_own_arithmetic() -> None:
    policy = CANARY.sequential_policy()
    planned = needed_candidate_invocations(CANARY, 0.0, CANARY.steps[-1])
    assert abs(planned - error_free_invocations_to_pass(Evidence(), policy)) <= 1


def test_a_function_that_errs_more_needs_more_traffic_and_the_plan_uses_its_errors() -> None:
    clean = plan_canary(steady(3_000, 24), CANARY, [0] * 24)
    noisy = plan_canary(steady(3_000, 24), CANARY, [3] * 24)
    assert noisy.error_rate_assumed == pytest.approx(0.001)
    assert clean.needed_candidate_invocations < noisy.needed_candidate_invocations


@pytest.mark.parametrize(
    ("invocations", "errors", "message"),
    [
        ([], None, "empty"),
        ([1, -1], None, r"hourly_invocations\[1\]"),
        ([1, True], None, r"hourly_invocations\[1\]"),
        ([1, 2], [0], "same hours"),
        ([1, 2], [2, 2], "more errors"),
    ],
)
def test_bad_traffic_is_refused(
    invocations: list[int], errors: list[int] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plan_canary(invocations, CANARY, errors)


# --------------------------------------------------------------------------- policy settings


def test_judge_settings_have_documented_defaults() -> None:
    canary = Policy.default().canary
    assert (canary.guarded_ratio, canary.guarded_error_rate) == (10.0, 0.01)
    assert (canary.tolerated_ratio, canary.tolerated_error_rate) == (1.0, 0.001)
    assert (canary.false_rollback, canary.false_pass) == (0.01, 0.005)
    assert canary.max_duration == timedelta(days=2)
    assert canary.look_interval == timedelta(minutes=5)
    assert canary.sequential_policy().min_pass_invocations == 528


def test_judge_settings_round_trip_and_accept_whole_numbers() -> None:
    policy = Policy.from_json({"canary": {"guarded_ratio": 3, "max_duration": "5d"}})
    assert policy.canary.guarded_ratio == 3.0
    assert Policy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    ("canary", "message"),
    [
        ({"tolerated_ratio": 10.0}, "tolerated_ratio (10) must be below guarded_ratio"),
        ({"tolerated_error_rate": 0.02}, "must be below guarded_error_rate"),
        ({"false_pass": 0.5}, "canary.false_pass: Input should be less than 0.5"),
        ({"max_duration": "15d"}, "at most 14d"),
        ({"look_interval": "30s"}, "look_interval must be between 1m and 1h"),
        ({"guarded_ratio": "10"}, "canary.guarded_ratio: Input should be a valid number"),
    ],
)
def test_bad_judge_settings_are_refused_by_path(canary: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as error:
        Policy.from_json({"canary": canary})
    assert message in str(error.value)


# ------------------------------------------------------------------ the plan before approval
def _pin_and_ports(per_minute: int, *, alias: bool = True, tags: dict[str, str] | None = None):
    from tests.unit.canary_fakes import FakeLambda, FakeSignals, approved_pin

    lam = FakeLambda()
    if alias:
        lam.set_alias("live", lam.publish())
    lam.tags_.update(tags or {})
    return approved_pin(), lam, FakeSignals(lam, per_minute=per_minute)


def test_before_approval_a_quiet_alias_is_told_its_duration_and_options() -> None:
    from rollforward.canary.looking import plan_before_approval

    pin, lam, signals = _pin_and_ports(0)
    signals.per_minute = 0
    planned = plan_before_approval(lam, signals, Policy.default(), pin)
    assert planned["alias"] == "live" and planned["feasible"] is False
    assert str(planned["summary"]).startswith("no invocations in the last 7 days")
    assert "options: test events, a longer window, or accept untested" in str(planned["summary"])
    json.dumps(planned)  # stored in the ledger as it is


def test_before_approval_a_busy_alias_is_told_its_expected_duration() -> None:
    from rollforward.canary.looking import plan_before_approval

    pin, lam, signals = _pin_and_ports(1000)
    planned = plan_before_approval(lam, signals, Policy.default(), pin)
    assert planned["feasible"] is True and planned["expected_duration"]
    assert "a healthy candidate should pass in ~" in str(planned["summary"])


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({}, "no alias and no test events (tag rollforward:test-events)"),
        ({"rollforward:test-events": "/events"}, "no alias: the canary invokes the owner's test"),
    ],
)
def test_before_approval_a_function_without_an_alias_is_told_the_synthetic_strategy(
    tags: dict[str, str], expected: str
) -> None:
    from rollforward.canary.looking import plan_before_approval

    pin, lam, signals = _pin_and_ports(1000, alias=False, tags=tags)
    planned = plan_before_approval(lam, signals, Policy.default(), pin)
    assert str(planned["summary"]).startswith(expected)
    assert planned["feasible"] is bool(tags)


def test_unreadable_traffic_is_said_with_the_reason_and_the_options() -> None:
    """The request goes out all the same (a member role without GetMetricData yet)."""
    from rollforward.canary.looking import plan_unavailable

    planned = plan_unavailable(Policy.default(), "AccessDenied on GetMetricData")
    summary = str(planned["summary"])
    assert summary.startswith("the function's traffic could not be read (AccessDenied on ")
    assert "ends undecided after 2d if too little comes" in summary  # canary.max_duration
    assert summary.endswith("options: test events, a longer window, or accept untested")
    assert planned["feasible"] is False and planned["alias"] == ""
    json.dumps(planned)
