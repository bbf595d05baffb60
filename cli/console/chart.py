"""The canary chart's geometry: candidate vs baseline error rate and traffic weight per judged
bake, as SVG coordinates and paths computed here so the template only draws (and escapes).

Pure: numbers and strings in, frozen dataclasses out; nothing here reads AWS or the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ChartStep:
    """One judged bake: what the chart and the table under it show."""

    label: str
    at: str  # HH:MM of the judgement, from the audit trail ("" when unknown)
    weight: float | None
    outcome: str
    candidate_rate: float | None
    baseline_rate: float | None
    candidate_errors: int | None
    candidate_invocations: int | None
    baseline_errors: int | None
    baseline_invocations: int | None
    p_candidate_worse: float | None
    # The sequential judge's e-values at that look (None for the fixed-horizon judge's bakes).
    regression_evidence: float | None = None
    healthy_evidence: float | None = None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _rate(verdict: dict[str, Any], side: str) -> float | None:
    """The verdict's error rate for `side`, or the rate so far from its counts (the sequential
    judge records counts, not rates)."""
    stated = _number(verdict.get(f"{side}_error_rate"))
    if stated is not None:
        return stated
    errors, invocations = (
        _count(verdict.get(f"{side}_errors")),
        _count(verdict.get(f"{side}_invocations")),
    )
    if errors is None or not invocations:
        return None
    return errors / invocations


def _label(verdict: dict[str, Any]) -> str:
    step, look = verdict.get("step"), verdict.get("look")
    if isinstance(look, int | float) and isinstance(step, int | float):
        return f"look {look:g} (step {step:g})"
    return f"step {step:g}" if isinstance(step, int | float) else str(step or "?")


def chart_steps(
    verdicts: Sequence[dict[str, Any]],
    judged_at: Sequence[datetime] = (),
    ended_at: datetime | None = None,
) -> list[ChartStep]:
    """The verdicts in order, with the time each was judged where the audit trail says.

    `judged_at` are the times of this canary's `judge N` (fixed judge) or `look N` (sequential)
    audit records, oldest first, matched to the numbered verdicts from the end (the ledger keeps
    the last eight verdicts). The post-promotion verdict has no such record: it was judged when
    the canary ended."""
    numbered = [v for v in verdicts if isinstance(v.get("step"), int | float)]
    times = list(judged_at)[-len(numbered) :] if numbered else []
    time_of = {
        id(verdict): moment.strftime("%H:%M")
        for verdict, moment in zip(numbered[-len(times) :] if times else [], times, strict=True)
    }
    steps = []
    for verdict in verdicts:
        step = verdict.get("step")
        numeric = isinstance(step, int | float)
        weight = _number(verdict.get("weight"))
        if weight is None and step == "post-promotion":
            weight = 1.0  # after promotion the candidate serves everything
        steps.append(
            ChartStep(
                label=_label(verdict),
                at=time_of.get(id(verdict), "")
                or (ended_at.strftime("%H:%M") if ended_at and not numeric else ""),
                weight=weight,
                outcome=str(verdict.get("outcome", "")).lower(),
                candidate_rate=_rate(verdict, "candidate"),
                baseline_rate=_rate(verdict, "baseline"),
                candidate_errors=_count(verdict.get("candidate_errors")),
                candidate_invocations=_count(verdict.get("candidate_invocations")),
                baseline_errors=_count(verdict.get("baseline_errors")),
                baseline_invocations=_count(verdict.get("baseline_invocations")),
                p_candidate_worse=_number(verdict.get("p_candidate_worse")),
                regression_evidence=_number(verdict.get("regression_evidence")),
                healthy_evidence=_number(verdict.get("healthy_evidence")),
            )
        )
    return steps


# Tops of the error-rate axis, each with a division into round ticks.
RATE_AXES = (
    (0.001, 5),
    (0.002, 4),
    (0.005, 5),
    (0.01, 5),
    (0.02, 4),
    (0.05, 5),
    (0.1, 5),
    (0.2, 4),
    (0.5, 5),
    (1.0, 5),
)


def rate_axis(rates: Iterable[float]) -> tuple[float, int]:
    """The smallest round top of the error-rate axis that leaves headroom over every rate,
    and how many round ticks divide it."""
    highest = max(rates, default=0.0)
    return next((axis for axis in RATE_AXES if axis[0] >= highest * 1.15), RATE_AXES[-1])


def _tick_text(rate: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs (0.02%, 0.5%, 20%)."""
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    return f"{rate * 100:.{decimals}f}%"


@dataclass(frozen=True)
class ChartMark:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class ChartLabel:
    x: float
    y: float
    text: str
    css: str = ""


@dataclass(frozen=True)
class CanaryChart:
    """An SVG's geometry, computed here; the template only draws (and escapes) it."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    weight_area: str
    candidate_path: str
    baseline_path: str
    candidate_marks: list[ChartMark]
    baseline_marks: list[ChartMark]
    rate_ticks: list[ChartLabel]
    weight_ticks: list[ChartLabel]
    x_labels: list[ChartLabel]
    outcome_labels: list[ChartLabel]
    description: str


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _percent(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def _polyline(points: Sequence[tuple[float, float] | None]) -> str:
    """An SVG path through the points, lifting the pen at gaps (no data for a step)."""
    commands, pen_down = [], False
    for point in points:
        if point is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{_fmt(point[0])},{_fmt(point[1])}")
        pen_down = True
    return " ".join(commands)


def canary_chart(
    steps: Sequence[ChartStep], *, width: int = 720, height: int = 280
) -> CanaryChart | None:
    """Candidate vs baseline error rate (left axis) and traffic weight (right axis, shaded
    steps) for each judged bake, left to right in time."""
    if not steps:
        return None
    left, right, top, bottom = 64, width - 56, 36, height - 52
    plot_w, plot_h = right - left, bottom - top
    slot = plot_w / len(steps)
    top_rate, divisions = rate_axis(
        r for s in steps for r in (s.candidate_rate, s.baseline_rate) if r is not None
    )

    def x_at(index: int) -> float:
        return left + slot * (index + 0.5)

    def y_rate(rate: float) -> float:
        return bottom - plot_h * min(rate, top_rate) / top_rate

    def y_weight(weight: float) -> float:
        return bottom - plot_h * max(0.0, min(weight, 1.0))

    area = [f"M{_fmt(left)},{_fmt(bottom)}"]
    for index, step in enumerate(steps):
        y = y_weight(step.weight or 0.0)
        area.append(
            f"L{_fmt(left + slot * index)},{_fmt(y)} L{_fmt(left + slot * (index + 1))},{_fmt(y)}"
        )
    area.append(f"L{_fmt(right)},{_fmt(bottom)} Z")

    def series(
        rate_of: Callable[[ChartStep], float | None],
        counts_of: Callable[[ChartStep], tuple[int | None, int | None]],
        name: str,
    ) -> tuple[str, list[ChartMark]]:
        points: list[tuple[float, float] | None] = []
        marks = []
        for index, step in enumerate(steps):
            rate = rate_of(step)
            if rate is None:
                points.append(None)
                continue
            point = (x_at(index), y_rate(rate))
            points.append(point)
            errors, invocations = counts_of(step)
            counts = f" ({errors} of {invocations})" if invocations is not None else ""
            marks.append(
                ChartMark(point[0], point[1], f"{name} {step.label}: {_percent(rate)}{counts}")
            )
        return _polyline(points), marks

    candidate_path, candidate_marks = series(
        lambda s: s.candidate_rate,
        lambda s: (s.candidate_errors, s.candidate_invocations),
        "candidate",
    )
    baseline_path, baseline_marks = series(
        lambda s: s.baseline_rate,
        lambda s: (s.baseline_errors, s.baseline_invocations),
        "baseline",
    )
    rate_step = top_rate / divisions
    rate_ticks = [
        ChartLabel(left - 8, y_rate(rate_step * i), _tick_text(rate_step * i, rate_step))
        for i in range(divisions + 1)
    ]
    weight_ticks = [ChartLabel(right + 8, y_weight(i / 4), f"{i * 25}%") for i in range(5)]
    x_labels = []
    for index, step in enumerate(steps):
        weight = f" · {step.weight:.0%}" if step.weight is not None else ""
        x_labels.append(ChartLabel(x_at(index), bottom + 18, f"{step.label}{weight}"))
        if step.at:
            x_labels.append(ChartLabel(x_at(index), bottom + 34, step.at, "sub"))
    outcome_labels = [
        ChartLabel(x_at(index), top - 12, step.outcome, f"outcome-{step.outcome}")
        for index, step in enumerate(steps)
        if step.outcome
    ]
    description = "; ".join(
        f"{s.label}: weight {_percent(s.weight, 0)}, candidate {_percent(s.candidate_rate)}, "
        f"baseline {_percent(s.baseline_rate)}, {s.outcome}"
        for s in steps
    )
    return CanaryChart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        weight_area=" ".join(area),
        candidate_path=candidate_path,
        baseline_path=baseline_path,
        candidate_marks=candidate_marks,
        baseline_marks=baseline_marks,
        rate_ticks=rate_ticks,
        weight_ticks=weight_ticks,
        x_labels=x_labels,
        outcome_labels=outcome_labels,
        description=description,
    )
