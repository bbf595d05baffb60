"""The sequential canary judge: anytime-valid PASS / FAIL over per-minute counts.

Pure domain code: no AWS calls, no I/O, no clock. The caller reads the `AWS/Lambda` per-minute
Sums of `Invocations`, `Errors` and `Throttles` split by `ExecutedVersion` for the candidate and
the baseline over the *same* minutes, folds them into `Evidence` with `accumulate`, and asks
`decide` at every look (the state machine looks every few minutes). `Evidence` is small and
JSON-serialisable (`to_dict` / `from_dict`), so a look only reads the minutes since the last one.
The full method, its guarantees, the defaults and the bench figures are in `docs/judge.md`.

Outcomes
--------
- FAIL at any look: a watched alarm in ALARM, a throttled candidate, a p99 regression, or the
  error evidence says "regression" (below).
- PASS at any look: the error evidence says "not the guarded regression", the candidate has the
  minimum information (`SequentialPolicy.min_pass_invocations`), no guard fails.
- CONTINUE: neither yet; keep looking.
- INCONCLUSIVE: only at the plan's end (`final=True`), when neither was reached.

The error test
--------------
Healthy (must not be rolled back): the candidate's error rate is at most `tolerated_ratio` x the
baseline's, OR at most `tolerated_error_rate` (the absolute floor: 0.02 % against a 0 % baseline
is not a regression). Regression (must not pass): at least `guarded_ratio` x the baseline's AND at
least `guarded_error_rate`. In between, either verdict is acceptable.

Relative part. Conditional on a minute's total errors m = e_c + e_b, the candidate's share e_c is
Binomial(m, p) with p = r w / (r w + 1 - w), w the candidate's share of that minute's invocations
and r the error-rate ratio: the baseline's unknown rate cancels out (exact for Poisson counts).
Absolute part. The candidate's own errors are Binomial(n_c, rate) (exact for independent
invocations). Each part has a likelihood-ratio e-process, a product over minutes of the
simple-vs-simple likelihood ratio: a nonnegative supermartingale with mean <= 1 under its whole
composite null (the families have monotone likelihood ratios), so by Ville's inequality it ever
reaches 1/alpha with probability <= alpha — over every minute of the canary, however many looks.

- FAIL needs both "regression" e-processes (ratio r1 vs r0, rate a1 vs a0) to have reached
  1 / `false_rollback`: healthy is a union, so both parts must be rejected; under a healthy
  candidate one of them is a true null, hence P(FAIL) <= false_rollback.
- PASS needs the mean of both "healthy" e-processes (ratio r0 vs r1, rate a0 vs a1) to have
  reached 1 / `false_pass`: the regression is an intersection, under it both are true nulls and
  their mean is an e-process too, hence P(PASS) <= false_pass.

With r0 = 1 the relative FAIL e-process stays a supermartingale for Bernoulli invocations too
(given m, e_c is hypergeometric, which is smaller in convex order than the binomial: Hoeffding
1963). Zero-error minutes carry no relative evidence; only the absolute part grows with traffic,
and PASS additionally needs `min_pass_invocations` = the fewest error-free invocations that rule
out a rate of `guarded_error_rate` at level `false_pass` — no valid test can pass sooner.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Final

EvidenceValue = float | int | str | None

_LOG_HALF: Final = math.log(0.5)


class Decision(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    CONTINUE = "CONTINUE"
    INCONCLUSIVE = "INCONCLUSIVE"


def _require_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _require_number(name: str, value: object, low: float, high: float) -> float:
    """A finite number in the open interval (low, high)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if not (math.isfinite(number) and low < number < high):
        raise ValueError(f"{name} must be a finite number in ({low:g}, {high:g}), got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Minute:
    """One interval's `AWS/Lambda` Sums for both versions (usually one minute; any interval
    works: the tests are exact for totals too). Errors may not exceed invocations: both must be
    read for the same period. Throttled requests are not invocations (Lambda counts them apart).
    """

    candidate_invocations: int
    candidate_errors: int
    baseline_invocations: int
    baseline_errors: int
    candidate_throttles: int = 0
    baseline_throttles: int = 0

    def __post_init__(self) -> None:
        for item in fields(self):
            _require_count(item.name, getattr(self, item.name))
        for side in ("candidate", "baseline"):
            errors, invocations = (
                getattr(self, f"{side}_errors"),
                getattr(self, f"{side}_invocations"),
            )
            if errors > invocations:
                raise ValueError(
                    f"{side}_errors ({errors}) exceed {side}_invocations ({invocations}): "
                    "query both metrics over the same period"
                )


@dataclass(frozen=True, slots=True)
class SequentialPolicy:
    """What the judge guards against and how sure it must be. Defaults: `docs/judge.md`.

    - `guarded_ratio`, `guarded_error_rate` (r1, a1): the regression a PASS must rule out —
      at least r1 x the baseline's error rate and at least a1.
    - `tolerated_ratio`, `tolerated_error_rate` (r0, a0): healthy — at most r0 x the baseline's
      error rate, or at most a0 whatever the baseline. A FAIL must rule this out.
    - `false_rollback` (alpha): P(FAIL) for a healthy candidate, over the whole canary.
    - `false_pass` (beta): P(PASS) for the guarded regression, over the whole canary.
    - `max_duration_p99_ratio`, `min_duration_p99_increase_ms`: FAIL when the candidate's p99 is
      above ratio x the baseline's and that many ms slower, once both have served
      `min_pass_invocations` (below that a "p99" is the slowest cold start of a handful).
    - `max_candidate_throttles`: FAIL above it, unless the baseline was throttled at least as
      often per request (then the function's concurrency is short, not the candidate).
    """

    guarded_ratio: float = 10.0
    guarded_error_rate: float = 0.01
    tolerated_ratio: float = 1.0
    tolerated_error_rate: float = 0.001
    false_rollback: float = 0.01
    false_pass: float = 0.005
    max_duration_p99_ratio: float = 1.5
    min_duration_p99_increase_ms: float = 25.0
    max_candidate_throttles: int = 0

    def __post_init__(self) -> None:
        tolerated = _require_number("tolerated_ratio", self.tolerated_ratio, 0.0, math.inf)
        if tolerated < 1.0:
            raise ValueError(
                f"tolerated_ratio must be >= 1 (equal rates are healthy), got {tolerated}"
            )
        guarded = _require_number("guarded_ratio", self.guarded_ratio, tolerated, math.inf)
        del guarded
        floor = _require_number("tolerated_error_rate", self.tolerated_error_rate, 0.0, 1.0)
        _require_number("guarded_error_rate", self.guarded_error_rate, floor, 1.0)
        _require_number("false_rollback", self.false_rollback, 0.0, 0.5)
        _require_number("false_pass", self.false_pass, 0.0, 0.5)
        ratio = _require_number(
            "max_duration_p99_ratio", self.max_duration_p99_ratio, 0.0, math.inf
        )
        if ratio < 1.0:
            raise ValueError(f"max_duration_p99_ratio must be >= 1, got {ratio}")
        if not (
            isinstance(self.min_duration_p99_increase_ms, int | float)
            and math.isfinite(self.min_duration_p99_increase_ms)
            and self.min_duration_p99_increase_ms >= 0
        ):
            raise ValueError("min_duration_p99_increase_ms must be a finite number >= 0")
        _require_count("max_candidate_throttles", self.max_candidate_throttles)

    @property
    def min_pass_invocations(self) -> int:
        """Fewest candidate invocations for any PASS: with zero errors in n invocations a rate
        of `guarded_error_rate` is ruled out at level `false_pass` only once (1 - a1)^n <= beta."""
        return math.ceil(math.log(self.false_pass) / math.log1p(-self.guarded_error_rate) - 1e-9)

    @property
    def fail_log_threshold(self) -> float:
        return -math.log(self.false_rollback)

    @property
    def pass_log_threshold(self) -> float:
        return -math.log(self.false_pass)

    def share(self, ratio: float, candidate_share: float) -> float:
        """p: the candidate's expected share of a minute's errors at error-rate ratio `ratio`."""
        return ratio * candidate_share / (ratio * candidate_share + 1.0 - candidate_share)


@dataclass(frozen=True, slots=True)
class DurationP99:
    """Each version's duration p99 over the canary so far (None: no datapoint yet)."""

    candidate_ms: float | None
    baseline_ms: float | None


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the judge knows: totals and the log e-values (each starts at 0 = log 1).

    `*_max` are running maxima over every minute folded in: a threshold reached at any minute
    counts (Ville's inequality bounds the supremum), even if a later minute lowered the value.
    """

    minutes: int = 0
    candidate_invocations: int = 0
    candidate_errors: int = 0
    candidate_throttles: int = 0
    baseline_invocations: int = 0
    baseline_errors: int = 0
    baseline_throttles: int = 0
    log_fail_ratio: float = 0.0
    log_fail_rate: float = 0.0
    log_pass_ratio: float = 0.0
    log_pass_rate: float = 0.0
    log_fail_ratio_max: float = 0.0
    log_fail_rate_max: float = 0.0
    log_pass_max: float = 0.0

    @property
    def log_pass(self) -> float:
        """log of the PASS e-process: the mean of the two "healthy" e-processes."""
        return _LOG_HALF + _log_add(self.log_pass_ratio, self.log_pass_rate)

    def to_dict(self) -> dict[str, int | float]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Evidence:
        """Rebuild from `to_dict` output. Unknown, missing or ill-typed keys are errors: an
        e-process silently restarted from 1 mid-canary would get a second chance to cross."""
        if not isinstance(data, Mapping):
            raise ValueError(f"evidence must be a mapping, not {type(data).__name__}")
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known, key=str)
        if unknown:
            raise ValueError(f"unknown evidence key(s): {', '.join(map(str, unknown))}")
        missing = sorted(known - set(data))
        if missing:
            raise ValueError(f"missing evidence key(s): {', '.join(missing)}")
        values: dict[str, int | float] = {}
        for name, value in data.items():
            if name.startswith("log_"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} must be a number, not {value!r}")
                if not math.isfinite(value):
                    raise ValueError(f"{name} must be finite, got {value!r}")
                values[name] = float(value)
            else:
                values[name] = _require_count(name, value)
        return cls(**values)  # type: ignore[arg-type]


def _log_add(a: float, b: float) -> float:
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(math.exp(low - high))


def accumulate(evidence: Evidence, minutes: Iterable[Minute], policy: SequentialPolicy) -> Evidence:
    """Fold `minutes` (oldest first, none folded before) into `evidence`."""
    r0, r1 = policy.tolerated_ratio, policy.guarded_ratio
    a0, a1 = policy.tolerated_error_rate, policy.guarded_error_rate
    log_rate_error = math.log(a1 / a0)
    log_rate_success = math.log1p(-a1) - math.log1p(-a0)
    e = evidence
    minutes_seen = e.minutes
    n_c, e_c, t_c = e.candidate_invocations, e.candidate_errors, e.candidate_throttles
    n_b, e_b, t_b = e.baseline_invocations, e.baseline_errors, e.baseline_throttles
    fail_ratio, fail_rate = e.log_fail_ratio, e.log_fail_rate
    pass_ratio, pass_rate = e.log_pass_ratio, e.log_pass_rate
    fail_ratio_max, fail_rate_max, pass_max = (
        e.log_fail_ratio_max,
        e.log_fail_rate_max,
        e.log_pass_max,
    )
    for minute in minutes:
        minutes_seen += 1
        cand_n, cand_e = minute.candidate_invocations, minute.candidate_errors
        base_n, base_e = minute.baseline_invocations, minute.baseline_errors
        n_c, e_c, t_c = n_c + cand_n, e_c + cand_e, t_c + minute.candidate_throttles
        n_b, e_b, t_b = n_b + base_n, e_b + base_e, t_b + minute.baseline_throttles
        # Absolute part: the candidate's own Bernoulli errors, a1 against a0.
        step = cand_e * log_rate_error + (cand_n - cand_e) * log_rate_success
        fail_rate += step
        pass_rate -= step
        # Relative part: only minutes with errors and traffic on both sides say anything.
        if cand_e + base_e and cand_n and base_n:
            w = cand_n / (cand_n + base_n)
            p0, p1 = policy.share(r0, w), policy.share(r1, w)
            step = cand_e * math.log(p1 / p0) + base_e * (math.log1p(-p1) - math.log1p(-p0))
            fail_ratio += step
            pass_ratio -= step
        fail_ratio_max = max(fail_ratio_max, fail_ratio)
        fail_rate_max = max(fail_rate_max, fail_rate)
        pass_max = max(pass_max, _LOG_HALF + _log_add(pass_ratio, pass_rate))
    return Evidence(
        minutes_seen,
        n_c,
        e_c,
        t_c,
        n_b,
        e_b,
        t_b,
        fail_ratio,
        fail_rate,
        pass_ratio,
        pass_rate,
        fail_ratio_max,
        fail_rate_max,
        pass_max,
    )


def error_free_invocations_to_pass(evidence: Evidence, policy: SequentialPolicy) -> int:
    """How many more candidate invocations, all error-free (and no baseline errors), until the
    error test says PASS: 0 if it already does. For "expected end" displays and the bench."""
    needed = max(0, policy.min_pass_invocations - evidence.candidate_invocations)
    if evidence.log_pass_max >= policy.pass_log_threshold:
        return needed
    # Want log(1/2 (E_ratio + E_rate)) >= threshold with E_rate growing by g per invocation.
    growth = math.log1p(-policy.tolerated_error_rate) - math.log1p(-policy.guarded_error_rate)
    target = 2.0 / policy.false_pass - math.exp(evidence.log_pass_ratio)
    if target <= 0:  # cannot happen unless already passed; kept for robustness
        return needed
    count = max(0, math.ceil((math.log(target) - evidence.log_pass_rate) / growth))
    while count > 0 and _passes_after(evidence, count - 1, growth, policy):
        count -= 1
    while not _passes_after(evidence, count, growth, policy):
        count += 1
    return max(needed, count)


def _passes_after(evidence: Evidence, count: int, growth: float, policy: SequentialPolicy) -> bool:
    rate = evidence.log_pass_rate + count * growth
    return _LOG_HALF + _log_add(evidence.log_pass_ratio, rate) >= policy.pass_log_threshold


@dataclass(frozen=True, slots=True)
class SequentialVerdict:
    """The decision at one look, with why (sentences) and what it rests on (numbers)."""

    decision: Decision
    reasons: list[str]
    evidence: dict[str, EvidenceValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.decision.value,
            "reasons": list(self.reasons),
            "evidence": dict(self.evidence),
        }


def decide(
    evidence: Evidence,
    alarms_in_alarm: list[str],
    policy: SequentialPolicy | None = None,
    *,
    duration_p99: DurationP99 | None = None,
    final: bool = False,
) -> SequentialVerdict:
    """The verdict at this look. `final` marks the plan's last look (only it is INCONCLUSIVE)."""
    if policy is None:
        policy = SequentialPolicy()
    failures: list[str] = []
    passes: list[str] = []
    e = evidence

    if alarms_in_alarm:
        failures.append(f"watched alarm(s) in ALARM: {', '.join(sorted(alarms_in_alarm))}")
    else:
        passes.append("no watched alarm in ALARM")

    throttled = _throttle_sentence(e, policy)
    (failures if throttled[0] else passes).append(throttled[1])

    gate = policy.min_pass_invocations
    p99_ratio: float | None = None
    if (
        duration_p99 is not None
        and e.candidate_invocations >= gate
        and e.baseline_invocations >= gate
    ):
        too_slow, sentence, p99_ratio = _compare_p99(duration_p99, policy)
        (failures if too_slow else passes).append(sentence)
    else:
        passes.append(f"duration p99 not compared yet (needs {gate} invocations per version)")

    worse = (
        f"regression = at least {policy.guarded_ratio:g}x the baseline's error rate and at "
        f"least {_pct(policy.guarded_error_rate)}; healthy = at most "
        f"{policy.tolerated_ratio:g}x, or below {_pct(policy.tolerated_error_rate)}"
    )
    rates = (
        f"candidate {_pct_of(e.candidate_errors, e.candidate_invocations)} vs baseline "
        f"{_pct_of(e.baseline_errors, e.baseline_invocations)}"
    )
    fail_evidence = min(e.log_fail_ratio_max, e.log_fail_rate_max)
    if fail_evidence >= policy.fail_log_threshold:
        failures.append(
            f"error rate regressed: {rates}; evidence {_e(fail_evidence)} >= "
            f"{_e(policy.fail_log_threshold)} = 1/{policy.false_rollback:g} ({worse})"
        )
    error_pass = e.log_pass_max >= policy.pass_log_threshold and e.candidate_invocations >= gate

    record = _evidence_record(e, policy, p99_ratio)
    if failures:
        return SequentialVerdict(Decision.FAIL, failures, record)
    if error_pass:
        passes.append(
            f"error rate healthy: {rates}; evidence {_e(e.log_pass_max)} >= "
            f"{_e(policy.pass_log_threshold)} = 1/{policy.false_pass:g} that it is not the "
            f"guarded regression ({worse})"
        )
        return SequentialVerdict(Decision.PASS, passes, record)
    remaining = error_free_invocations_to_pass(e, policy)
    status = (
        f"{rates}: not yet decided (regression evidence {_e(fail_evidence)}, healthy evidence "
        f"{_e(e.log_pass_max)}; thresholds {_e(policy.fail_log_threshold)} and "
        f"{_e(policy.pass_log_threshold)}); with no further errors a PASS needs "
        f"{remaining} more candidate invocation(s)"
    )
    if final:
        return SequentialVerdict(
            Decision.INCONCLUSIVE,
            [status, *passes, "the plan's time is up: hand it to a human"],
            record,
        )
    return SequentialVerdict(Decision.CONTINUE, [status, *passes], record)


def judge_minutes(
    minutes: Iterable[Minute],
    alarms_in_alarm: list[str],
    policy: SequentialPolicy | None = None,
    *,
    duration_p99: DurationP99 | None = None,
    final: bool = False,
) -> SequentialVerdict:
    """`accumulate` every minute since the canary started, then `decide`."""
    policy = policy or SequentialPolicy()
    evidence = accumulate(Evidence(), minutes, policy)
    return decide(evidence, alarms_in_alarm, policy, duration_p99=duration_p99, final=final)


def _throttle_sentence(e: Evidence, policy: SequentialPolicy) -> tuple[bool, str]:
    if e.candidate_throttles <= policy.max_candidate_throttles:
        return False, f"candidate throttles {e.candidate_throttles}"
    cand_share = e.candidate_throttles / (e.candidate_throttles + e.candidate_invocations)
    base_share = e.baseline_throttles / max(1, e.baseline_throttles + e.baseline_invocations)
    detail = (
        f"candidate throttled {e.candidate_throttles} time(s) ({_pct(cand_share)} of requests), "
        f"baseline {e.baseline_throttles} ({_pct(base_share)})"
    )
    if e.baseline_throttles and base_share >= cand_share:
        return False, f"{detail}: the function's concurrency is short, not the candidate"
    return True, f"{detail}; policy allows {policy.max_candidate_throttles}"


def _compare_p99(p99: DurationP99, policy: SequentialPolicy) -> tuple[bool, str, float | None]:
    if p99.candidate_ms is None or p99.baseline_ms is None:
        return False, "duration p99 not compared (no datapoint for one version)", None
    ratio = p99.candidate_ms / p99.baseline_ms if p99.baseline_ms > 0 else math.inf
    increase = p99.candidate_ms - p99.baseline_ms
    sentence = (
        f"candidate duration p99 {p99.candidate_ms:.1f} ms vs baseline {p99.baseline_ms:.1f} ms "
        f"(ratio {ratio:.2f})"
    )
    if ratio > policy.max_duration_p99_ratio and increase > policy.min_duration_p99_increase_ms:
        return (
            True,
            f"{sentence} > {policy.max_duration_p99_ratio:g} and {increase:.1f} ms slower "
            f"(> {policy.min_duration_p99_increase_ms:g} ms)",
            ratio if math.isfinite(ratio) else None,
        )
    return False, sentence, ratio if math.isfinite(ratio) else None


# The largest e-value a verdict's record states. The thresholds are 1/false_rollback and
# 1/false_pass (100 and 200 by default); the record is stored as is in DynamoDB, which keeps 38
# significant digits, and the ledger reads a whole number back as an int (e^120 came back with
# 52 digits, and the next write of the pin failed).
SHOWN_EVIDENCE_CAP = 1e30
_LOG_SHOWN_CAP = math.log(SHOWN_EVIDENCE_CAP)


def _shown(log_value: float) -> float:
    """An e-value for the record: exp, capped at `SHOWN_EVIDENCE_CAP`, 4 decimals."""
    if log_value >= _LOG_SHOWN_CAP:
        return SHOWN_EVIDENCE_CAP
    return round(math.exp(log_value), 4)


def _evidence_record(
    e: Evidence, policy: SequentialPolicy, p99_ratio: float | None
) -> dict[str, EvidenceValue]:
    record: dict[str, EvidenceValue] = {
        "minutes": e.minutes,
        "candidate_invocations": e.candidate_invocations,
        "candidate_errors": e.candidate_errors,
        "candidate_throttles": e.candidate_throttles,
        "baseline_invocations": e.baseline_invocations,
        "baseline_errors": e.baseline_errors,
        "baseline_throttles": e.baseline_throttles,
        "regression_evidence": _shown(min(e.log_fail_ratio_max, e.log_fail_rate_max)),
        "healthy_evidence": _shown(e.log_pass_max),
        "fail_at": round(1 / policy.false_rollback, 4),
        "pass_at": round(1 / policy.false_pass, 4),
        "min_pass_invocations": policy.min_pass_invocations,
        "duration_p99_ratio": None if p99_ratio is None else round(p99_ratio, 4),
    }
    return record


def _pct(rate: float) -> str:
    return f"{100 * rate:.3g}%"


def _pct_of(errors: int, invocations: int) -> str:
    shown = "n/a" if not invocations else _pct(errors / invocations)
    return f"{shown} ({errors}/{invocations})"


def _e(log_value: float) -> str:
    """An e-value for people: 1.0e+02 style above 1,000, plain below."""
    value = math.exp(min(log_value, _LOG_SHOWN_CAP))
    return f"{value:.3g}"


__all__ = [
    "Decision",
    "DurationP99",
    "Evidence",
    "Minute",
    "SequentialPolicy",
    "SequentialVerdict",
    "accumulate",
    "decide",
    "error_free_invocations_to_pass",
    "judge_minutes",
]
