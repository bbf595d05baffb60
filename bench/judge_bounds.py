"""What no valid judge can do at the 50 % step (baseline 1x): upper bounds, computed.

`bench.judge` prints these beside the simulated methods, so the claim "the 1x targets are out of
reach" is a number anyone can recompute, not an argument. Pure arithmetic, no simulation.

The problem. At 1x the candidate and the baseline serve the same n invocations. The regression
to catch is (candidate 1 %, baseline 0.1 %). A judge's FAIL must be rare (<= alpha) for every
healthy pair, in particular for both versions at the same rate c. The closest such pair is
c = 0.55 %: there the total error count has the same mean as under the regression, and only the
split of the errors between the versions tells the two apart.

Three bounds, each valid for every test with P(FAIL) <= alpha at one healthy pair (c, c) (a
judge valid for all healthy pairs is one of them):

- `one_look_bound(n)`: P(FAIL by n invocations), any test at all: sequential, looking as often as
  it likes, knowing the horizon. It is the Neyman-Pearson most powerful test of (c, c) against
  the regression on the counts at n, minimised over c.
- `joint_bound(n1, n2)`: the largest P(FAIL by n2) of a test that also FAILs by n1 with
  probability >= 1/2 (median <= n1). The best such test looks only at n1 and n2 (waiting for a
  deadline costs nothing and shows more), so this is a two-look problem, solved exactly.
- `label_bound(n)`: P(FAIL by n) of a horizon-free test: one whose FAIL depends only on which
  version made each error, in order (as the judge's relative e-process does at a constant
  weight), not on how many invocations the errors took. Optimal stopping over the error labels.

Each is a Lagrangian dual (weak duality: for any multipliers, the value is an upper bound), so a
coarse search over the multipliers can only make a bound looser, never wrong. Counts are
binomial, as in the bench's traffic; the label bound uses the Poisson idealisation (errors as
a Poisson stream, labels independent of it).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

REGRESSED = 0.01
BASELINE = 0.001
ALPHA = 0.01
# Healthy pairs (c, c) searched for the tightest bound: around the closest one, 0.55 %.
HEALTHY_RATES = tuple(x / 10_000 for x in range(30, 91, 2))
# Multipliers searched (log grids): any value is a valid bound, the search only tightens it.
_LAMBDAS = tuple(10 ** (k / 20) for k in range(-40, 81))
_NUS = (0.0, *(10 ** (k / 10) for k in range(-20, 21)))


def _log_binomial(n: int, k: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _support(n: int, p: float, tail: float = 1e-13) -> list[tuple[int, float]]:
    """(k, P(Binomial(n, p) = k)) over the k that hold all but `tail` of the mass."""
    mean, sd = n * p, math.sqrt(n * p * (1 - p)) + 1
    top = min(n, math.ceil(mean + 12 * sd + 10))
    out = [(k, math.exp(_log_binomial(n, k, p))) for k in range(top + 1)]
    return [(k, q) for k, q in out if q > tail]


@dataclass(frozen=True, slots=True)
class _Outcomes:
    """Joint outcomes (candidate errors, baseline errors) of n invocations per version: their
    probabilities under the regression (p1) and the healthy pair (p0), sorted by p1/p0."""

    ratio: tuple[float, ...]  # p1/p0, descending
    negated: tuple[float, ...]  # -ratio, ascending (for bisect)
    p1_cum: tuple[float, ...]  # prefix sums in that order
    p0_cum: tuple[float, ...]
    p1_missing: float  # regression mass outside the support (added to bounds: stay upper)


def _outcomes(n: int, healthy: float) -> _Outcomes:
    rows: list[tuple[float, float, float]] = []
    cand1, base1 = _support(n, REGRESSED), _support(n, BASELINE)
    cand0 = dict(_support(n, healthy))
    base0 = cand0
    covered = 0.0
    for i, pc in cand1:
        for j, pb in base1:
            p1 = pc * pb
            p0 = cand0.get(i, 0.0) * base0.get(j, 0.0)
            covered += p1
            rows.append((p1 / p0 if p0 else math.inf, p1, p0))
    # Outcomes likely under the healthy pair only: ratio near 0, they never help a FAIL.
    rows.sort(key=lambda row: -row[0])
    ratio, p1_cum, p0_cum = [], [], []
    s1 = s0 = 0.0
    for r, p1, p0 in rows:
        s1, s0 = s1 + p1, s0 + p0
        ratio.append(r)
        p1_cum.append(s1)
        p0_cum.append(s0)
    return _Outcomes(
        tuple(ratio),
        tuple(-r for r in ratio),
        tuple(p1_cum),
        tuple(p0_cum),
        max(0.0, 1.0 - covered),
    )


def _best_gain(out: _Outcomes, scale: float, lam: float) -> float:
    """max over rejection regions of scale*P1(R) - lam*P0(R): reject where scale*ratio > lam."""
    if lam <= 0:
        return scale
    # ratio is descending: count the outcomes with ratio > lam / scale.
    cut = bisect.bisect_left(out.negated, -lam / scale)
    if cut == 0:
        return 0.0
    return scale * out.p1_cum[cut - 1] - lam * out.p0_cum[cut - 1]


def one_look_bound(n: int, alpha: float = ALPHA) -> float:
    """Upper bound on P(FAIL by n invocations per version) of any test of level alpha."""
    best = 1.0
    for healthy in HEALTHY_RATES:
        out = _outcomes(n, healthy)
        dual = min(_best_gain(out, 1.0, lam) + lam * alpha for lam in _LAMBDAS)
        best = min(best, dual + out.p1_missing)
    return min(1.0, best)


def joint_bound(n1: int, n2: int, alpha: float = ALPHA, share: float = 0.5) -> float:
    """Upper bound on P(FAIL by n2) for a level-alpha test with P(FAIL by n1) >= share.

    A value below `share` means no such test exists at all. Evaluated at the healthy pair
    that bounds the one-look power at n1 the hardest."""
    healthy = min(HEALTHY_RATES, key=lambda c: _one_look_at(n1, c, alpha))
    first, second = _outcomes(n1, healthy), _outcomes(n2 - n1, healthy)
    # Stage-1 outcomes, each with its likelihood ratio and both probabilities.
    stage1 = [
        (out_r, p1, p0)
        for out_r, p1, p0 in zip(
            first.ratio,
            _increments(first.p1_cum),
            _increments(first.p0_cum),
            strict=True,
        )
    ]
    best = math.inf
    for nu in _NUS:
        for lam in _LAMBDAS:
            # max over tests of P1(FAIL by n2) + nu P1(FAIL by n1) - lam P0(FAIL), per stage-1
            # outcome: FAIL now, or go on and FAIL at n2 where the joint ratio beats lam.
            value = 0.0
            for ratio, p1, p0 in stage1:
                stop = (1 + nu) * p1 - lam * p0
                go_on = p1 if math.isinf(ratio) else p0 * _best_gain(second, ratio, lam)
                value += max(stop, go_on, 0.0)
            bound = value + lam * alpha - nu * share
            best = min(best, bound)
    return min(1.0, best + first.p1_missing + second.p1_missing)


def _one_look_at(n: int, healthy: float, alpha: float) -> float:
    out = _outcomes(n, healthy)
    return min(_best_gain(out, 1.0, lam) + lam * alpha for lam in _LAMBDAS)


def _increments(cumulative: Sequence[float]) -> list[float]:
    return [b - a for a, b in zip((0.0, *cumulative[:-1]), cumulative, strict=True)]


# --------------------------------------------------------------------------- horizon-free


_LABEL_P1 = REGRESSED / (REGRESSED + BASELINE)  # the candidate's share of errors: 10/11
_ERRORS_PER_INVOCATION = REGRESSED + BASELINE  # both versions, per candidate invocation
_MAX_ERRORS = 110


def _arrived_by(n: float) -> list[float]:
    """g[m] = P(the m-th error has come by n candidate invocations) = P(Poisson >= m)."""
    mean = _ERRORS_PER_INVOCATION * n
    term, below, out = math.exp(-mean), 0.0, []
    for m in range(_MAX_ERRORS + 1):
        out.append(max(0.0, 1.0 - below))
        below += term
        term *= mean / (m + 1)
    return out


def _label_dual(gain: Sequence[float], lam: float, alpha: float) -> float:
    """max over label stopping rules of E1[gain(tau)] - lam P0(stop), plus lam alpha.

    Backward induction in likelihood-ratio form under the null (labels fair coins): at m errors
    of which s the candidate's, stop for L(m, s) gain[m] - lam or go on. Past `_MAX_ERRORS` the
    value is bounded by L gain[_MAX_ERRORS] (E0 of a stopped likelihood ratio is at most L)."""
    up, down = math.log(2 * _LABEL_P1), math.log(2 * (1 - _LABEL_P1))
    m = _MAX_ERRORS
    value = [math.exp(s * up + (m - s) * down) * gain[m] for s in range(m + 1)]
    for m in range(_MAX_ERRORS - 1, -1, -1):
        value = [
            max(
                math.exp(s * up + (m - s) * down) * gain[m] - lam if m else -math.inf,
                0.5 * (value[s + 1] + value[s]),
            )
            for s in range(m + 1)
        ]
    return value[0] + lam * alpha


def label_bound(n: float, alpha: float = ALPHA) -> float:
    """Upper bound on P(FAIL by n candidate invocations) of a horizon-free test of level alpha."""
    gain = _arrived_by(n)
    return min(1.0, min(_label_dual(gain, lam, alpha) for lam in _LAMBDAS[::2]))


def label_joint_bound(n1: float, n2: float, alpha: float = ALPHA, share: float = 0.5) -> float:
    """`joint_bound` for horizon-free tests: the largest P(FAIL by n2) of one that FAILs by n1
    with probability >= share. Below `share`: no horizon-free test does both."""
    early, late = _arrived_by(n1), _arrived_by(n2)
    best = math.inf
    for nu in _NUS[::2]:
        gain = [b + nu * a for a, b in zip(early, late, strict=True)]
        best = min(best, min(_label_dual(gain, lam, alpha) for lam in _LAMBDAS[::3]) - nu * share)
    return min(1.0, best)


def smallest_median(bound: Callable[[int], float], grid: Sequence[int]) -> int | None:
    """The first n of `grid` (ascending) at which `bound(n)` reaches 1/2: no test of that class
    has a median invocations to FAIL below it. None if none does."""
    low, high = 0, len(grid)
    while low < high:
        mid = (low + high) // 2
        if bound(grid[mid]) >= 0.5:
            high = mid
        else:
            low = mid + 1
    return grid[low] if low < len(grid) else None
