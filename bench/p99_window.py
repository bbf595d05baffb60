"""How often a healthy candidate is failed on its duration p99: read per minute, or over the window.

Run: `.venv/bin/python -m bench.p99_window [--trials N] [--seed S]` (about 70 s of CPU at the default 300 trials).

Scenario. One 10-minute bake of a canary step through a weighted alias, the candidate and the
baseline on the same runtime (durations log-normal, p50 40 ms, p99 120 ms; no errors), traffic
steady at the rate that gives the candidate 3,300 invocations, starting anywhere within a minute.
CloudWatch answers as it does for `AWS/Lambda`: StartTime rounded down to the minute, then per
period a nearest-rank percentile of every duration in it.

Methods, both judged by `rollforward.canary.judge.judge` with its default policy (FAIL when the
candidate's p99 is over 1.5x the baseline's and 25 ms slower):
- per minute: p99 per 60-s period, the largest of the window's minutes (what the fixed-horizon
  judge read before: a minute at the window's edge holds a handful of invocations, and its
  "p99" is its slowest one);
- whole window: one period over the window (`rollforward.canary.evidence.whole_window`).

Prints P(FAIL) of each, and the ratio per minute / whole window (a healthy candidate should be
failed never; 0 in N trials is printed as "< 3/N", the 95 % bound).
"""

from __future__ import annotations

import argparse
import math
import random
from bisect import bisect_left
from datetime import UTC, datetime, timedelta

from rollforward.canary.evidence import whole_window
from rollforward.canary.judge import JudgePolicy, Outcome, VersionSample, judge

BAKE = timedelta(minutes=10)
CANDIDATE_INVOCATIONS = 3300
STEPS = (0.05, 0.25, 0.4, 0.6, 0.8)
MU, SIGMA = math.log(40.0), (math.log(120.0) - math.log(40.0)) / 2.326
EPOCH = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _p99(durations: list[float]) -> float:
    ordered = sorted(durations)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def _periods(
    stamped: list[tuple[datetime, float]], first: datetime, period: int, end: datetime
) -> list[float]:
    """Nearest-rank p99 of each period of `period` seconds from `first` up to `end`."""
    times = [at for at, _ in stamped]
    values, at, step = [], first, timedelta(seconds=period)
    while at < end:
        durations = [d for _, d in stamped[bisect_left(times, at) : bisect_left(times, at + step)]]
        if durations:
            values.append(_p99(durations))
        at += step
    return values


def _trial(rng: random.Random, weight: float) -> tuple[bool, bool]:
    """(failed per minute, failed over the window) for one healthy bake at `weight`."""
    start = EPOCH + timedelta(seconds=rng.uniform(0, 60))
    count = round(CANDIDATE_INVOCATIONS / weight)
    sides: dict[str, list[tuple[datetime, float]]] = {"candidate": [], "baseline": []}
    for index in range(count):
        side = "candidate" if rng.random() < weight else "baseline"
        sides[side].append((start + BAKE * (index / count), rng.lognormvariate(MU, SIGMA)))
    low, high = start - timedelta(minutes=1), start + BAKE + timedelta(minutes=1)
    first_minute = low.replace(second=0, microsecond=0)
    window_first, window_period = whole_window(low, high)
    failed = []
    for first, period, end in (
        (first_minute, 60, high),
        (window_first, window_period, window_first + timedelta(seconds=window_period)),
    ):
        samples = [
            VersionSample(
                invocations=len(sides[side]),
                errors=0,
                duration_p99_ms=max(_periods(sides[side], first, period, end)),
            )
            for side in ("candidate", "baseline")
        ]
        verdict = judge(samples[0], samples[1], [], JudgePolicy())
        failed.append(verdict.outcome is Outcome.FAIL)
    return failed[0], failed[1]


def _rate(fails: int, trials: int) -> str:
    return f"{fails / trials:.4f}" if fails else f"< {3 / trials:.4f}"


def _ratio(per_minute: int, whole_window: int) -> str:
    """Per minute over whole window; against the 95 % bound (3 fails) when the window had none."""
    if whole_window:
        return f"{per_minute / whole_window:.1f}x"
    return f"> {per_minute / 3:.1f}x" if per_minute else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300, help="bakes per step")
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(
        f"healthy candidate, {CANDIDATE_INVOCATIONS} invocations a bake, {args.trials} bakes a step"
    )
    print(f"{'step':>6}  {'P(FAIL) per minute':>19}  {'P(FAIL) whole window':>21}  ratio")
    totals = [0, 0]
    for weight in STEPS:
        fails = [0, 0]
        for _ in range(args.trials):
            for index, failed in enumerate(_trial(rng, weight)):
                fails[index] += failed
        totals = [totals[0] + fails[0], totals[1] + fails[1]]
        ratio = _ratio(fails[0], fails[1])
        print(
            f"{weight:>6.0%}  {_rate(fails[0], args.trials):>19}  "
            f"{_rate(fails[1], args.trials):>21}  {ratio}"
        )
    trials = args.trials * len(STEPS)
    print(
        f"{'all':>6}  {_rate(totals[0], trials):>19}  {_rate(totals[1], trials):>21}  "
        f"{_ratio(totals[0], totals[1])}"
    )


if __name__ == "__main__":
    main()
