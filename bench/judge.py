"""Monte Carlo of the canary judge against two common alternatives.

Run: `.venv/bin/python -m bench.judge [--trials N] [--seed S]` (about 12 s on 2 cores).

Scenario: a 10-minute bake with traffic spread evenly over ten one-minute buckets. The baseline
errs at 0.1 %; under "regression" the candidate errs at 1.0 %, under "equal" at 0.1 %. The
baseline serves 19x the candidate's traffic (the 5 % weight step, where a regression must be
caught first) and, as a second block, 1x (the 50 % step: the noisiest baseline). Every method
sees the same simulated counts (common random numbers).

Methods:
- judge: `rollforward.judge.judge` with its default policy, on window totals.
- alarm: a CodeDeploy-style CloudWatch alarm on the candidate's `Errors` (ExecutedVersion),
  Sum >= 5 in any 1-minute period. No traffic gate, no baseline: not failing means passing.
- mann-whitney: Kayenta's choice, a one-sided Mann-Whitney U test of the candidate's ten
  per-minute error rates against the baseline's, normal approximation with tie and continuity
  corrections, FAIL when p < 0.025 (the one-sided edge of Kayenta's default two-sided 95 %
  confidence interval; Kayenta's 25 % effect tolerance, which only makes it less sensitive, is
  left out). Not failing means passing.

Columns: power = P(FAIL | regression); missed = P(PASS | regression), a regression shipped;
missed 3x = P(PASS | candidate at 0.3 %), a subtler regression shipped; false rb = P(FAIL | equal), a needless rollback; pass = P(PASS | equal), how often a healthy
candidate gets through without extending the bake. "passes below gate" counts PASS verdicts
with fewer candidate invocations than the judge's traffic gate, over the simulated rows and a
sweep of every count below the gate with zero errors.

Targets (judge): power >= 95 % at <= 2,000 candidate invocations; false rollbacks <= 1 % at
every count; 0 passes below the traffic gate. Exit status is 0 either way: this is a
measurement.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from rollforward.judge import JudgePolicy, Outcome, VersionSample, judge

BUCKETS = 10
BASELINE_RATE = 0.001
REGRESSED_RATE = 0.01
SUBTLE_RATE = 0.003
CANDIDATE_COUNTS = (100, 250, 500, 1000, 2000, 5000)
BASELINE_RATIOS = (19, 1)
ALARM_THRESHOLD = 5
MANN_WHITNEY_ALPHA = 0.025
POWER_TARGET = 0.95
POWER_TARGET_AT = 2000
FALSE_ROLLBACK_TARGET = 0.01


@dataclass(frozen=True)
class Window:
    """Per-minute invocations and errors of both versions in one simulated bake."""

    candidate_invocations: list[int]
    candidate_errors: list[int]
    baseline_invocations: list[int]
    baseline_errors: list[int]


Method = Callable[[Window], Outcome]


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Exact Binomial(n, p) draw by skipping geometric gaps between errors: O(errors)."""
    if p <= 0.0 or n <= 0:
        return 0
    log_q = math.log1p(-p)
    position, count = 0, 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_q) + 1
        if position > n:
            return count
        count += 1


def split(total: int) -> list[int]:
    share, extra = divmod(total, BUCKETS)
    return [share + (1 if i < extra else 0) for i in range(BUCKETS)]


def simulate(rng: random.Random, candidate: int, ratio: int, candidate_rate: float) -> Window:
    cand = split(candidate)
    base = split(candidate * ratio)
    return Window(
        cand,
        [binomial(rng, n, candidate_rate) for n in cand],
        base,
        [binomial(rng, n, BASELINE_RATE) for n in base],
    )


def judge_method(policy: JudgePolicy) -> Method:
    def run(window: Window) -> Outcome:
        candidate = VersionSample(sum(window.candidate_invocations), sum(window.candidate_errors))
        baseline = VersionSample(sum(window.baseline_invocations), sum(window.baseline_errors))
        return judge(candidate, baseline, [], policy).outcome

    return run


def threshold_alarm(window: Window) -> Outcome:
    breached = any(errors >= ALARM_THRESHOLD for errors in window.candidate_errors)
    return Outcome.FAIL if breached else Outcome.PASS


def mann_whitney(window: Window) -> Outcome:
    candidate = [
        e / n for e, n in zip(window.candidate_errors, window.candidate_invocations, strict=True)
    ]
    baseline = [
        e / n for e, n in zip(window.baseline_errors, window.baseline_invocations, strict=True)
    ]
    return (
        Outcome.FAIL
        if mann_whitney_p_greater(candidate, baseline) < MANN_WHITNEY_ALPHA
        else Outcome.PASS
    )


def mann_whitney_p_greater(x: list[float], y: list[float]) -> float:
    """One-sided p-value of H1 "x tends to be larger than y": U with midranks, normal approx."""
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(pooled)
    tie_term = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        tie_term += t**3 - t
        i = j + 1
    m, n = len(x), len(y)
    total = m + n
    rank_sum_x = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = rank_sum_x - m * (m + 1) / 2
    variance = m * n / 12 * ((total + 1) - tie_term / (total * (total - 1)))
    if variance <= 0:
        return 1.0  # all values tied: no evidence of a difference
    z = (u - m * n / 2 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


@dataclass
class Cell:
    fail: int = 0
    passed: int = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=20250501)
    args = parser.parse_args()

    policy = JudgePolicy()
    methods: dict[str, Method] = {
        "judge": judge_method(policy),
        f"alarm >={ALARM_THRESHOLD}/min": threshold_alarm,
        "mann-whitney": mann_whitney,
    }
    started = time.perf_counter()
    gate = policy.min_candidate_invocations
    passes_below_gate = {name: 0 for name in methods}
    judge_power_ok: dict[int, bool] = {}
    judge_false_rollback_worst = 0.0

    print(
        f"Canary judge bench: baseline {100 * BASELINE_RATE:g}% errors, regression "
        f"{100 * REGRESSED_RATE:g}%, {BUCKETS}x1-minute bake, {args.trials} trials per cell, "
        f"seed {args.seed}"
    )
    print(
        f"judge policy: gate {gate}/{policy.min_baseline_invocations} invocations, FAIL if "
        f"P(worse) > {policy.fail_probability}, PASS if < {policy.pass_probability}, worse = "
        f"> {1 + policy.error_rate_relative_tolerance:g}x baseline "
        f"+ {100 * policy.error_rate_absolute_tolerance:g} pp"
    )
    for ratio in BASELINE_RATIOS:
        print(f"\nbaseline traffic = {ratio}x candidate")
        print(
            f"{'cand inv':>8}  {'method':<14} {'power':>7} {'missed':>7} {'missed 3x':>9} {'false rb':>9} {'pass':>7}"
        )
        ratio_power_ok = False
        for count in CANDIDATE_COUNTS:
            rng = random.Random(f"{args.seed}/{ratio}/{count}")
            regressed = [simulate(rng, count, ratio, REGRESSED_RATE) for _ in range(args.trials)]
            subtle = [simulate(rng, count, ratio, SUBTLE_RATE) for _ in range(args.trials)]
            equal = [simulate(rng, count, ratio, BASELINE_RATE) for _ in range(args.trials)]
            for name, method in methods.items():
                under_regression, under_subtle, under_equal = Cell(), Cell(), Cell()
                scenarios = (
                    (under_regression, regressed),
                    (under_subtle, subtle),
                    (under_equal, equal),
                )
                for cell, windows in scenarios:
                    for window in windows:
                        outcome = method(window)
                        cell.fail += outcome is Outcome.FAIL
                        cell.passed += outcome is Outcome.PASS
                if count < gate:
                    passes_below_gate[name] += sum(cell.passed for cell, _ in scenarios)
                power = under_regression.fail / args.trials
                false_rollback = under_equal.fail / args.trials
                if name == "judge":
                    judge_false_rollback_worst = max(judge_false_rollback_worst, false_rollback)
                    if count <= POWER_TARGET_AT and power >= POWER_TARGET:
                        ratio_power_ok = True
                print(
                    f"{count:>8}  {name:<14} {power:>7.3f} "
                    f"{under_regression.passed / args.trials:>7.3f} "
                    f"{under_subtle.passed / args.trials:>9.3f} {false_rollback:>9.4f} "
                    f"{under_equal.passed / args.trials:>7.3f}"
                )
        judge_power_ok[ratio] = ratio_power_ok

    # Deterministic sweep: every candidate count below the gate, zero errors, a large clean baseline.
    clean_baseline = VersionSample(invocations=1_000_000, errors=1000)
    for invocations in range(gate):
        verdict = judge(VersionSample(invocations, 0), clean_baseline, [], policy)
        passes_below_gate["judge"] += verdict.outcome is Outcome.PASS

    print("\npasses below the judge's traffic gate (simulated rows + zero-error sweep):")
    for name, passes in passes_below_gate.items():
        print(f"  {name:<14} {passes}")

    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print("\ntargets (judge):")
    for ratio, ok in judge_power_ok.items():
        print(
            f"  [{mark(ok)}] power >= {POWER_TARGET:.0%} at <= {POWER_TARGET_AT} invocations "
            f"(baseline {ratio}x)"
        )
    print(
        f"  [{mark(judge_false_rollback_worst <= FALSE_ROLLBACK_TARGET)}] false rollbacks <= "
        f"{FALSE_ROLLBACK_TARGET:.0%} (worst cell {judge_false_rollback_worst:.4f})"
    )
    print(
        f"  [{mark(passes_below_gate['judge'] == 0)}] 0 passes below the traffic gate ({passes_below_gate['judge']})"
    )
    print(f"\nelapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
