"""The sequential judge: e-process properties, error control by simulation, guards, and state."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollforward.canary.sequential_judge import (
    Decision,
    DurationP99,
    Evidence,
    Minute,
    SequentialPolicy,
    accumulate,
    decide,
    error_free_invocations_to_pass,
    judge_minutes,
)

POLICY = SequentialPolicy()


@st.composite
def minutes(draw: st.DrawFn) -> Minute:
    cand_n = draw(st.integers(0, 400))
    base_n = draw(st.integers(0, 4000))
    return Minute(
        cand_n,
        draw(st.integers(0, min(cand_n, 12))),
        base_n,
        draw(st.integers(0, min(base_n, 12))),
    )


def fold(*items: Minute, policy: SequentialPolicy = POLICY) -> Evidence:
    return accumulate(Evidence(), items, policy)


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means these tests use."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


# --------------------------------------------------------------------------- the e-processes


@settings(max_examples=150, deadline=None)
@given(history=st.lists(minutes(), max_size=6), minute=minutes())
def test_a_candidate_error_is_evidence_of_regression_never_of_health(
    history: list[Minute], minute: Minute
) -> None:
    """One more candidate error (same traffic) never lowers the regression e-processes nor
    raises the healthy ones; one more baseline error does the opposite for the relative part."""
    before = fold(*history)
    if minute.candidate_errors < minute.candidate_invocations:
        worse = Minute(
            minute.candidate_invocations,
            minute.candidate_errors + 1,
            minute.baseline_invocations,
            minute.baseline_errors,
        )
        plain, bad = accumulate(before, [minute], POLICY), accumulate(before, [worse], POLICY)
        assert bad.log_fail_rate > plain.log_fail_rate
        assert bad.log_fail_ratio >= plain.log_fail_ratio
        assert bad.log_pass_rate < plain.log_pass_rate
        assert bad.log_pass_ratio <= plain.log_pass_ratio
    if minute.baseline_errors < minute.baseline_invocations:
        noisier = Minute(
            minute.candidate_invocations,
            minute.candidate_errors,
            minute.baseline_invocations,
            minute.baseline_errors + 1,
        )
        plain, base = accumulate(before, [minute], POLICY), accumulate(before, [noisier], POLICY)
        assert base.log_fail_ratio <= plain.log_fail_ratio
        assert base.log_pass_ratio >= plain.log_pass_ratio
        assert base.log_fail_rate == plain.log_fail_rate


@settings(max_examples=100, deadline=None)
@given(history=st.lists(minutes(), min_size=1, max_size=8))
def test_running_maxima_never_fall_and_bound_the_current_values(history: list[Minute]) -> None:
    evidence = Evidence()
    for minute in history:
        after = accumulate(evidence, [minute], POLICY)
        assert after.log_fail_ratio_max >= max(evidence.log_fail_ratio_max, after.log_fail_ratio)
        assert after.log_fail_rate_max >= max(evidence.log_fail_rate_max, after.log_fail_rate)
        assert after.log_pass_max >= max(evidence.log_pass_max, after.log_pass - 1e-12)
        evidence = after
    assert evidence.minutes == len(history)
    assert evidence.candidate_invocations == sum(m.candidate_invocations for m in history)


def _binomial(n: int, k: int, p: float) -> float:
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


@st.composite
def policies(draw: st.DrawFn) -> SequentialPolicy:
    tolerated = draw(st.floats(1.0, 3.0))
    floor = draw(st.floats(1e-4, 0.05))
    return SequentialPolicy(
        tolerated_ratio=tolerated,
        guarded_ratio=tolerated * draw(st.floats(1.5, 20.0)),
        tolerated_error_rate=floor,
        guarded_error_rate=min(0.45, floor * draw(st.floats(1.5, 20.0))),
        false_rollback=draw(st.floats(0.001, 0.3)),
        false_pass=draw(st.floats(0.001, 0.3)),
    )


@settings(max_examples=120, deadline=None)
@given(
    policy=policies(),
    cand_n=st.integers(1, 60),
    base_n=st.integers(1, 600),
    errors=st.integers(1, 12),
    where=st.floats(0.0, 1.0),
)
def test_each_minute_multiplies_every_e_process_by_at_most_one_on_average_under_its_null(
    policy: SequentialPolicy, cand_n: int, base_n: int, errors: int, where: float
) -> None:
    """The supermartingale property, exactly (no simulation), anywhere in each composite null:
    E[new e-value / old e-value] <= 1 for the minute's binomial counts. Ville's inequality, and
    so every FAIL / PASS guarantee over the whole canary, rests on this."""
    m = min(errors, cand_n, base_n)
    w = cand_n / (cand_n + base_n)
    ratios = {  # a ratio inside each relative null: at most r0 (FAIL's), at least r1 (PASS's)
        "log_fail_ratio": policy.tolerated_ratio * (0.05 + 0.95 * where),
        "log_pass_ratio": policy.guarded_ratio * (1 + 9 * where),
    }
    for name, ratio in ratios.items():
        p = policy.share(ratio, w)
        mean = sum(
            _binomial(m, k, p)
            * math.exp(getattr(fold(Minute(cand_n, k, base_n, m - k), policy=policy), name))
            for k in range(m + 1)
        )
        assert mean <= 1 + 1e-9, (name, ratio, mean)
    rates = {  # a rate inside each absolute null: at most a0 (FAIL's), at least a1 (PASS's)
        "log_fail_rate": policy.tolerated_error_rate * (0.05 + 0.95 * where),
        "log_pass_rate": policy.guarded_error_rate + (0.99 - policy.guarded_error_rate) * where,
    }
    for name, rate in rates.items():
        mean = sum(
            _binomial(cand_n, k, rate)
            * math.exp(getattr(fold(Minute(cand_n, k, base_n, 0), policy=policy), name))
            for k in range(cand_n + 1)
        )
        assert mean <= 1 + 1e-9, (name, rate, mean)


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(st.integers(1, 50), st.integers(1, 500), st.integers(1, 3)),
        min_size=1,
        max_size=3,
    ),
    order=st.lists(st.integers(0, 2), min_size=1, max_size=14),
    below=st.floats(0.05, 1.0),
)
def test_a_healthy_candidate_ever_reaches_fail_evidence_with_probability_at_most_alpha(
    shapes: list[tuple[int, int, int]], order: list[int], below: float
) -> None:
    """Exact, over every minute of a canary whose weights change minute by minute: the chance
    that the relative FAIL e-process's running maximum (what `decide` reads) ever reaches
    1/alpha, for errors split as a candidate at `below` x r0 would split them."""
    policy = LOOSE  # alpha 0.2: a handful of minutes can cross, so the bound is tight enough
    ratio = policy.tolerated_ratio * below
    alive: dict[float, tuple[Evidence, float]] = {0.0: (Evidence(), 1.0)}
    crossed = 0.0
    for index in order:
        cand_n, base_n, m = shapes[index % len(shapes)]
        m = min(m, cand_n, base_n)
        p = policy.share(ratio, cand_n / (cand_n + base_n))
        nxt: dict[float, tuple[Evidence, float]] = {}
        for evidence, mass in alive.values():
            for k in range(m + 1):
                after = accumulate(evidence, [Minute(cand_n, k, base_n, m - k)], policy)
                weight = mass * _binomial(m, k, p)
                if after.log_fail_ratio_max >= policy.fail_log_threshold:
                    crossed += weight
                    continue
                key = round(after.log_fail_ratio, 9)
                kept = nxt.get(key)
                nxt[key] = (after, weight + (kept[1] if kept else 0.0))
        alive = nxt
    assert crossed <= policy.false_rollback + 1e-12


@pytest.mark.parametrize("loose", [False, True], ids=["default", "loose"])
@pytest.mark.parametrize(("cand_n", "base_n"), [(1, 1), (1, 19), (1, 3)])
def test_at_the_edge_of_healthy_the_fail_evidence_spends_most_of_alpha(
    loose: bool, cand_n: int, base_n: int
) -> None:
    """Equal rates, a fixed weight, one error a minute for 150 minutes: the exact probability
    that the relative FAIL e-process ever reaches 1/alpha is at most alpha (Ville) and not far
    below it (0.78 %, 0.53 % and 0.41 % of the default 1 %: the rest is the last step's
    overshoot of 1/alpha; a threshold 0.5 lower would exceed alpha at w = 1/2)."""
    policy = LOOSE if loose else POLICY
    p = policy.share(policy.tolerated_ratio, cand_n / (cand_n + base_n))
    alive = {0: (Evidence(), 1.0)}  # candidate errors so far -> (evidence, probability)
    crossed = 0.0
    for _ in range(150):
        nxt: dict[int, tuple[Evidence, float]] = {}
        for s, (evidence, mass) in alive.items():
            for ds, q in ((1, p), (0, 1 - p)):
                after = accumulate(evidence, [Minute(cand_n, ds, base_n, 1 - ds)], policy)
                if after.log_fail_ratio_max >= policy.fail_log_threshold:
                    crossed += mass * q
                elif s + ds not in nxt:
                    nxt[s + ds] = (after, mass * q)
                else:
                    nxt[s + ds] = (after, nxt[s + ds][1] + mass * q)
        alive = nxt
    assert policy.false_rollback / 3 < crossed <= policy.false_rollback


def test_minutes_without_errors_carry_no_relative_evidence() -> None:
    evidence = fold(Minute(100, 0, 1900, 0), Minute(50, 0, 0, 0))
    assert evidence.log_fail_ratio == evidence.log_pass_ratio == 0.0
    assert evidence.log_pass_rate > 0 > evidence.log_fail_rate


# --------------------------------------------------------------------------- error control


def simulate(
    policy: SequentialPolicy, candidate_rate: float, baseline_rate: float, trials: int, seed: int
) -> dict[Decision, int]:
    """Canaries of up to 60 five-minute looks, 40 candidate and 120 baseline invocations each."""
    rng = random.Random(seed)
    outcomes = dict.fromkeys(Decision, 0)
    for _ in range(trials):
        evidence = Evidence()
        for look in range(60):
            minute = Minute(
                40,
                min(40, poisson(rng, 40 * candidate_rate)),
                120,
                min(120, poisson(rng, 120 * baseline_rate)),
            )
            evidence = accumulate(evidence, [minute], policy)
            verdict = decide(evidence, [], policy, final=look == 59)
            if verdict.decision is not Decision.CONTINUE:
                outcomes[verdict.decision] += 1
                break
    return outcomes


# Generous error budgets so that a few hundred trials can tell a broken test from a valid one.
LOOSE = SequentialPolicy(
    guarded_ratio=4.0,
    guarded_error_rate=0.04,
    tolerated_error_rate=0.01,
    false_rollback=0.2,
    false_pass=0.2,
)


def test_false_rollbacks_stay_under_alpha_at_the_edge_of_healthy() -> None:
    # Equal rates AND at the absolute floor: both "healthy" nulls hold with equality.
    outcomes = simulate(LOOSE, 0.01, 0.01, trials=400, seed=11)
    assert outcomes[Decision.FAIL] / 400 <= LOOSE.false_rollback + 0.05
    assert outcomes[Decision.PASS] > 200  # and it is not valid by never deciding


def test_false_passes_stay_under_beta_at_the_edge_of_the_regression() -> None:
    # 4x the baseline AND exactly the guarded rate: both "regression" nulls hold with equality.
    outcomes = simulate(LOOSE, 0.04, 0.01, trials=400, seed=12)
    assert outcomes[Decision.PASS] / 400 <= LOOSE.false_pass + 0.05
    assert outcomes[Decision.FAIL] > 200


def test_default_policy_catches_a_tenfold_regression_and_passes_a_healthy_candidate() -> None:
    caught = simulate(POLICY, 0.01, 0.001, trials=60, seed=13)
    healthy = simulate(POLICY, 0.001, 0.001, trials=60, seed=14)
    assert caught[Decision.FAIL] >= 54 and caught[Decision.PASS] == 0
    assert healthy[Decision.PASS] >= 54 and healthy[Decision.FAIL] == 0


# --------------------------------------------------------------------------- PASS and INCONCLUSIVE


@settings(max_examples=150, deadline=None)
@given(history=st.lists(minutes(), max_size=10), final=st.booleans())
def test_pass_needs_the_minimum_information_and_inconclusive_only_ends_a_plan(
    history: list[Minute], final: bool
) -> None:
    evidence = fold(*history)
    verdict = decide(evidence, [], POLICY, final=final)
    if verdict.decision is Decision.PASS:
        assert evidence.candidate_invocations >= POLICY.min_pass_invocations
    assert verdict.decision is not (Decision.CONTINUE if final else Decision.INCONCLUSIVE)


def test_min_pass_invocations_is_the_zero_error_bound() -> None:
    n = POLICY.min_pass_invocations
    assert (1 - POLICY.guarded_error_rate) ** n <= POLICY.false_pass
    assert (1 - POLICY.guarded_error_rate) ** (n - 1) > POLICY.false_pass


def test_a_huge_noisy_baseline_cannot_pass_a_candidate_that_has_barely_run() -> None:
    # 0 errors in 100 candidate invocations beside 2,000 baseline errors: strong relative
    # evidence, but 100 error-free invocations cannot rule out a 1 % candidate.
    evidence = fold(Minute(100, 0, 100_000, 2_000))
    assert evidence.log_pass_max > POLICY.pass_log_threshold
    verdict = decide(evidence, [], POLICY)
    assert verdict.decision is Decision.CONTINUE


@settings(max_examples=60, deadline=None)
@given(history=st.lists(minutes(), max_size=5))
def test_error_free_invocations_to_pass_is_exact(history: list[Minute]) -> None:
    evidence = fold(*history)
    if decide(evidence, [], POLICY).decision is not Decision.CONTINUE:
        return
    needed = error_free_invocations_to_pass(evidence, POLICY)
    assert needed > 0
    almost = accumulate(evidence, [Minute(needed - 1, 0, 0, 0)], POLICY)
    enough = accumulate(evidence, [Minute(needed, 0, 0, 0)], POLICY)
    assert decide(almost, [], POLICY).decision is Decision.CONTINUE
    assert decide(enough, [], POLICY).decision is Decision.PASS


def test_the_absolute_floor_keeps_a_tiny_rate_against_a_clean_baseline_healthy() -> None:
    # 0.02 % against 0 %: the ratio is infinite, the rate is below the tolerated 0.1 %.
    evidence = fold(*[Minute(1_000, 1 if i % 5 == 0 else 0, 19_000, 0) for i in range(100)])
    assert evidence.log_fail_ratio_max > POLICY.fail_log_threshold  # relatively, it is worse
    assert decide(evidence, [], POLICY).decision is Decision.PASS


def test_undecided_at_the_plans_end_is_inconclusive_with_a_reason() -> None:
    verdict = judge_minutes([Minute(50, 0, 950, 1)], [], POLICY, final=True)
    assert verdict.decision is Decision.INCONCLUSIVE
    assert "hand it to a human" in verdict.reasons[-1]
    assert judge_minutes([Minute(50, 0, 950, 1)], [], POLICY).decision is Decision.CONTINUE


# --------------------------------------------------------------------------- guards


HEALTHY = [Minute(100, 0, 1_900, 2) for _ in range(10)]


def test_a_watched_alarm_fails_at_once() -> None:
    verdict = judge_minutes(HEALTHY[:1], ["orders-5xx"], POLICY)
    assert verdict.decision is Decision.FAIL
    assert "orders-5xx" in verdict.reasons[0]


def test_candidate_throttles_fail_unless_the_baseline_is_throttled_as_often() -> None:
    throttled = [Minute(100, 0, 1_900, 2, candidate_throttles=3)]
    assert judge_minutes(throttled, [], POLICY).decision is Decision.FAIL
    shared = [Minute(100, 0, 1_900, 2, candidate_throttles=3, baseline_throttles=100)]
    verdict = judge_minutes(shared, [], POLICY)
    assert verdict.decision is Decision.CONTINUE
    assert any("concurrency is short" in reason for reason in verdict.reasons)


def test_duration_p99_fails_only_once_both_versions_have_the_minimum_information() -> None:
    slow = DurationP99(candidate_ms=400.0, baseline_ms=100.0)
    few = judge_minutes(HEALTHY[:1], [], POLICY, duration_p99=slow)
    assert few.decision is Decision.CONTINUE
    many = judge_minutes(HEALTHY, [], POLICY, duration_p99=slow)
    assert many.decision is Decision.FAIL
    assert "p99" in many.reasons[0]
    fast = judge_minutes(HEALTHY, [], POLICY, duration_p99=DurationP99(110.0, 100.0))
    assert fast.decision is Decision.PASS


# --------------------------------------------------------------------------- inputs and state


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"candidate_invocations": 1, "candidate_errors": 2}, "exceed"),
        ({"baseline_invocations": -1}, ">= 0"),
        ({"candidate_throttles": True}, "must be an int"),
    ],
)
def test_bad_minutes_are_refused(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "candidate_invocations": 1,
        "candidate_errors": 0,
        "baseline_invocations": 1,
        "baseline_errors": 0,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        Minute(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tolerated_ratio": 0.5},
        {"guarded_ratio": 1.0},
        {"guarded_error_rate": 0.0005},
        {"false_rollback": 0.0},
        {"false_pass": 0.6},
        {"max_duration_p99_ratio": 0.9},
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SequentialPolicy(**kwargs)  # type: ignore[arg-type]


def test_evidence_survives_json_and_refuses_foreign_keys() -> None:
    evidence = fold(*HEALTHY)
    again = Evidence.from_dict(json.loads(json.dumps(evidence.to_dict())))
    assert again == evidence
    with pytest.raises(ValueError, match="unknown"):
        Evidence.from_dict({**evidence.to_dict(), "log_magic": 1.0})
    with pytest.raises(ValueError, match="finite"):
        Evidence.from_dict({**evidence.to_dict(), "log_pass_max": math.inf})


def test_evidence_with_a_missing_key_is_refused_not_restarted() -> None:
    data = fold(*HEALTHY).to_dict()
    del data["log_pass_max"]
    with pytest.raises(ValueError, match="missing evidence key"):
        Evidence.from_dict(data)


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from([*Evidence().to_dict(), "extra"]),
        st.one_of(
            st.integers(-5, 10**6),
            st.floats(allow_nan=True, allow_infinity=True),
            st.booleans(),
            st.none(),
            st.text(max_size=3),
        ),
    )
)
def test_evidence_from_state_either_round_trips_or_is_refused(data: dict[str, object]) -> None:
    try:
        evidence = Evidence.from_dict(data)
    except ValueError:
        return
    assert set(data) == set(Evidence().to_dict())
    assert Evidence.from_dict(evidence.to_dict()) == evidence
    assert all(math.isfinite(float(v)) for v in evidence.to_dict().values())


def test_verdicts_are_json_with_sentences_and_numbers() -> None:
    verdict = judge_minutes(HEALTHY, [], POLICY)
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["outcome"] == "PASS"
    assert data["evidence"]["candidate_invocations"] == 1_000
    assert any("not the guarded regression" in reason for reason in data["reasons"])


def test_an_overwhelming_regression_is_recorded_in_numbers_a_ledger_can_store() -> None:
    """Half the candidate's invocations fail: the e-value passes e^700, but the verdict's record
    (stored in DynamoDB, 38 significant digits, whole numbers read back as ints and written
    again) states it capped at 1e30."""
    from decimal import Context, Decimal, Inexact, Overflow, Rounded, Underflow

    broken = [Minute(1_000, 500, 1_000, 1)] * 30
    verdict = judge_minutes(broken, [], POLICY)
    assert verdict.decision is Decision.FAIL
    assert verdict.evidence["regression_evidence"] == 1e30
    dynamodb = Context(Emin=-128, Emax=126, prec=38, traps=[Inexact, Overflow, Rounded, Underflow])
    for value in verdict.evidence.values():
        if isinstance(value, float):
            stored = dynamodb.create_decimal(Decimal(str(value)))  # the first write
            if stored == stored.to_integral_value():
                dynamodb.create_decimal(int(stored))  # read back as an int, written again
