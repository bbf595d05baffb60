"""The canary judge: outcomes, reasons and evidence, policy validation, and its error-rate maths."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rollforward.canary.judge import JudgePolicy, Outcome, Verdict, VersionSample, judge

POLICY = JudgePolicy()
GATE = POLICY.min_candidate_invocations
# A healthy baseline at 0.1 % errors serving 19x the candidate (the 5 % weight step).
BASELINE = VersionSample(invocations=95_000, errors=95, throttles=0, duration_p99_ms=120.0)
HEALTHY = VersionSample(invocations=5_000, errors=5, throttles=0, duration_p99_ms=125.0)
ORDER = {Outcome.PASS: 0, Outcome.INCONCLUSIVE: 1, Outcome.FAIL: 2}


def evidence_float(verdict: Verdict, key: str) -> float:
    value = verdict.evidence[key]
    assert isinstance(value, float)
    return value


def test_healthy_candidate_with_enough_traffic_passes() -> None:
    verdict = judge(HEALTHY, BASELINE, [], POLICY)
    assert verdict.outcome is Outcome.PASS
    assert evidence_float(verdict, "p_candidate_worse") < POLICY.pass_probability


def test_clear_regression_fails_with_reason_and_evidence() -> None:
    candidate = VersionSample(invocations=1_000, errors=48, duration_p99_ms=125.0)
    baseline = VersionSample(invocations=3_000, errors=3, duration_p99_ms=120.0)
    verdict = judge(candidate, baseline, [], POLICY)
    assert verdict.outcome is Outcome.FAIL
    [reason] = verdict.reasons
    assert "candidate error rate 4.8% (48/1000) vs baseline 0.1% (3/3000)" in reason
    assert "> 0.99" in reason
    assert evidence_float(verdict, "p_candidate_worse") > 0.9999
    assert verdict.evidence["candidate_errors"] == 48
    assert verdict.evidence["baseline_invocations"] == 3_000


def test_verdict_is_json_serialisable_for_the_ledger() -> None:
    verdict = judge(HEALTHY, BASELINE, ["orders-5xx"], POLICY)
    document: dict[str, Any] = json.loads(json.dumps(verdict.to_dict()))
    assert document["outcome"] == "FAIL"
    assert document["evidence"]["alarms_in_alarm"] == "orders-5xx"
    assert document["evidence"]["fail_probability"] == POLICY.fail_probability


def test_below_the_traffic_gate_is_inconclusive_even_with_zero_errors() -> None:
    candidate = VersionSample(invocations=GATE - 1, errors=0, duration_p99_ms=100.0)
    verdict = judge(candidate, BASELINE, [], POLICY)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert any("below the traffic gate" in reason for reason in verdict.reasons)


@pytest.mark.parametrize("invocations", [0, 1, 2])
def test_a_candidate_with_no_error_and_almost_no_traffic_is_inconclusive_not_failed(
    invocations: int,
) -> None:
    """No error in 0, 1 or 2 invocations puts P(candidate worse) above 0.99 through the uniform prior
    alone: that is no evidence of a regression (a quiet window after promotion was rolled
    back on it). One error in as few invocations still fails."""
    quiet = judge(VersionSample(invocations=invocations, errors=0), BASELINE, [], POLICY)
    assert evidence_float(quiet, "p_candidate_worse") > POLICY.fail_probability
    assert quiet.outcome is Outcome.INCONCLUSIVE, quiet.reasons
    assert any("no evidence of one" in reason for reason in quiet.reasons)
    if invocations:
        erring = judge(VersionSample(invocations=invocations, errors=1), BASELINE, [], POLICY)
        assert erring.outcome is Outcome.FAIL


@given(
    candidate_invocations=st.integers(0, 10**6),
    baseline_invocations=st.integers(0, 10**7),
    baseline_error_fraction=st.floats(0, 1),
)
def test_a_candidate_without_errors_is_never_failed_on_its_error_rate(
    candidate_invocations: int, baseline_invocations: int, baseline_error_fraction: float
) -> None:
    baseline = VersionSample(
        baseline_invocations, int(baseline_invocations * baseline_error_fraction)
    )
    verdict = judge(VersionSample(candidate_invocations, 0), baseline, [], POLICY)
    assert verdict.outcome is not Outcome.FAIL, verdict.reasons


def test_thin_baseline_is_inconclusive() -> None:
    baseline = VersionSample(POLICY.min_baseline_invocations - 1, errors=0, duration_p99_ms=20.0)
    verdict = judge(HEALTHY, baseline, [], POLICY)  # its p99 is too thin to fail the candidate on
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert any("nothing reliable to compare against" in reason for reason in verdict.reasons)


def test_evidence_between_thresholds_is_inconclusive() -> None:
    # 3/1,000 vs 0.1 %: neither shown worse nor shown fine.
    candidate = VersionSample(invocations=1_000, errors=3)
    verdict = judge(candidate, VersionSample(19_000, 19), [], POLICY)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert (
        POLICY.pass_probability
        <= evidence_float(verdict, "p_candidate_worse")
        <= POLICY.fail_probability
    )
    assert verdict.reasons[-1] == "extend the bake, or hand the step to a human"


@settings(max_examples=150, deadline=None)
@given(
    candidate_invocations=st.integers(0, GATE - 1),
    error_fraction=st.floats(0, 1),
    baseline_invocations=st.integers(0, 10**7),
    baseline_error_fraction=st.floats(0, 1),
)
def test_never_pass_below_the_traffic_gate(
    candidate_invocations: int,
    error_fraction: float,
    baseline_invocations: int,
    baseline_error_fraction: float,
) -> None:
    candidate = VersionSample(candidate_invocations, int(candidate_invocations * error_fraction))
    baseline = VersionSample(
        baseline_invocations, int(baseline_invocations * baseline_error_fraction)
    )
    assert judge(candidate, baseline, [], POLICY).outcome is not Outcome.PASS


def test_alarm_in_alarm_fails_even_below_the_gate() -> None:
    candidate = VersionSample(invocations=10, errors=0)
    verdict = judge(candidate, BASELINE, ["orders-p99", "orders-5xx"], POLICY)
    assert verdict.outcome is Outcome.FAIL
    assert "watched alarm(s) in ALARM: orders-5xx, orders-p99" in verdict.reasons


def test_throttles_above_policy_fail() -> None:
    throttled = VersionSample(invocations=5_000, errors=5, throttles=3, duration_p99_ms=125.0)
    assert judge(throttled, BASELINE, [], POLICY).outcome is Outcome.FAIL
    lenient = JudgePolicy(max_candidate_throttles=3)
    assert judge(throttled, BASELINE, [], lenient).outcome is Outcome.PASS


@pytest.mark.parametrize(
    ("candidate_p99", "baseline_p99", "outcome"),
    [
        (300.0, 120.0, Outcome.FAIL),  # 2.5x and 180 ms slower
        (170.0, 120.0, Outcome.PASS),  # 1.42x: within the ratio
        (5.0, 2.0, Outcome.PASS),  # 2.5x but only 3 ms slower: noise for a tiny function
        (50.0, 0.0, Outcome.FAIL),  # from nothing to 50 ms
        (None, 120.0, Outcome.PASS),  # not compared when a datapoint is missing
    ],
)
def test_duration_p99(candidate_p99: float | None, baseline_p99: float, outcome: Outcome) -> None:
    candidate = VersionSample(invocations=5_000, errors=5, duration_p99_ms=candidate_p99)
    baseline = VersionSample(invocations=95_000, errors=95, duration_p99_ms=baseline_p99)
    verdict = judge(candidate, baseline, [], POLICY)
    assert verdict.outcome is outcome
    if outcome is Outcome.FAIL:
        assert any("duration p99" in reason for reason in verdict.reasons)


def test_duration_p99_of_a_few_cold_starts_is_not_judged() -> None:
    candidate = VersionSample(invocations=20, errors=0, duration_p99_ms=900.0)
    assert judge(candidate, BASELINE, [], POLICY).outcome is Outcome.INCONCLUSIVE


def test_every_failing_check_is_reported() -> None:
    candidate = VersionSample(invocations=2_000, errors=200, throttles=5, duration_p99_ms=900.0)
    verdict = judge(candidate, BASELINE, ["orders-5xx"], POLICY)
    assert verdict.outcome is Outcome.FAIL
    assert len(verdict.reasons) == 4


@settings(max_examples=150, deadline=None)
@given(
    candidate_invocations=st.integers(1, 20_000),
    error_fraction=st.floats(0, 1),
    extra_errors=st.integers(1, 500),
    baseline_invocations=st.integers(0, 10**6),
    baseline_error_fraction=st.floats(0, 0.2),
)
def test_more_candidate_errors_never_improve_the_outcome(
    candidate_invocations: int,
    error_fraction: float,
    extra_errors: int,
    baseline_invocations: int,
    baseline_error_fraction: float,
) -> None:
    errors = int(candidate_invocations * error_fraction)
    assume(errors + extra_errors <= candidate_invocations)
    baseline = VersionSample(
        baseline_invocations, int(baseline_invocations * baseline_error_fraction)
    )
    fewer = judge(VersionSample(candidate_invocations, errors), baseline, [], POLICY)
    more = judge(VersionSample(candidate_invocations, errors + extra_errors), baseline, [], POLICY)
    assert ORDER[more.outcome] >= ORDER[fewer.outcome]
    assert (
        evidence_float(more, "p_candidate_worse")
        >= evidence_float(fewer, "p_candidate_worse") - 1e-6
    )


# --- the error-rate integral against closed forms -----------------------------------------------


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def exact_p_candidate_greater(cand: VersionSample, base: VersionSample) -> float:
    """P(X > Y), X ~ Beta(a_x, b_x) with integer a_x, Y ~ Beta(a_y, b_y): Evan Miller's sum."""
    a_x, b_x = cand.errors + 1, cand.invocations - cand.errors + 1
    a_y, b_y = base.errors + 1, base.invocations - base.errors + 1
    return sum(
        math.exp(
            _log_beta(a_y + i, b_x + b_y)
            - math.log(b_x + i)
            - _log_beta(1 + i, b_x)
            - _log_beta(a_y, b_y)
        )
        for i in range(a_x)
    )


@pytest.mark.parametrize(
    ("cand", "base"),
    [
        (VersionSample(10, 0), VersionSample(10, 0)),
        (VersionSample(5, 1), VersionSample(7, 3)),
        (VersionSample(500, 5), VersionSample(1_500, 2)),
        (VersionSample(2_000, 2), VersionSample(38_000, 38)),  # integrates over the baseline
        (VersionSample(100, 0), VersionSample(100_000, 100)),
        (VersionSample(2_000, 20), VersionSample(2_000, 2)),
        (VersionSample(1_000, 500), VersionSample(1_000, 490)),
        (VersionSample(10**7, 10), VersionSample(1_000, 0)),  # integrates over the candidate
    ],
)
def test_probability_matches_closed_form_without_tolerance(
    cand: VersionSample, base: VersionSample
) -> None:
    exact_policy = JudgePolicy(error_rate_relative_tolerance=0.0, error_rate_absolute_tolerance=0.0)
    computed = evidence_float(judge(cand, base, [], exact_policy), "p_candidate_worse")
    assert computed == pytest.approx(exact_p_candidate_greater(cand, base), abs=1e-4)


@pytest.mark.parametrize(("invocations", "errors"), [(1_000, 0), (1_000, 3), (2_000, 9), (500, 1)])
def test_probability_with_tolerance_matches_binomial_tail(invocations: int, errors: int) -> None:
    """Against a near point-mass baseline p_b, P(p_c > t) = P(Binomial(n + 1, t) <= errors)."""
    base = VersionSample(10**9, 10**6)  # p_b = 0.001, sd 3e-8
    threshold = 1.5 * 0.001 + 0.001
    n = invocations + 1
    tail = sum(
        math.comb(n, k) * threshold**k * (1 - threshold) ** (n - k) for k in range(errors + 1)
    )
    computed = evidence_float(
        judge(VersionSample(invocations, errors), base, [], POLICY), "p_candidate_worse"
    )
    assert computed == pytest.approx(tail, abs=1e-4)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_candidate_invocations": 0}, "min_candidate_invocations must be >= 1"),
        ({"min_candidate_invocations": True}, "min_candidate_invocations must be an int"),
        ({"min_baseline_invocations": 2.5}, "min_baseline_invocations must be an int"),
        ({"fail_probability": 1.0}, "pass_probability < fail_probability < 1"),
        ({"pass_probability": 0.0}, "0 < pass_probability"),
        ({"pass_probability": 0.995}, "pass_probability < fail_probability"),
        ({"fail_probability": math.nan}, "fail_probability must be a finite number"),
        (
            {"error_rate_relative_tolerance": -0.1},
            "error_rate_relative_tolerance must be a finite number >= 0",
        ),
        ({"error_rate_absolute_tolerance": 1.0}, "must be < 1"),
        ({"max_duration_p99_ratio": 0.9}, "max_duration_p99_ratio must be >= 1"),
        (
            {"min_duration_p99_increase_ms": math.inf},
            "min_duration_p99_increase_ms must be a finite",
        ),
        ({"max_candidate_throttles": -1}, "max_candidate_throttles must be >= 0"),
    ],
)
def test_policy_rejects_nonsense(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        JudgePolicy(**overrides)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"invocations": 10, "errors": 11}, r"errors \(11\) exceed invocations \(10\)"),
        ({"invocations": -1, "errors": 0}, "invocations must be >= 0"),
        ({"invocations": 10, "errors": 0, "throttles": -2}, "throttles must be >= 0"),
        (
            {"invocations": 10, "errors": 0, "duration_p99_ms": -1.0},
            "duration_p99_ms must be a finite",
        ),
        ({"invocations": 10.0, "errors": 0}, "invocations must be an int"),
    ],
)
def test_sample_rejects_nonsense(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VersionSample(**fields)
