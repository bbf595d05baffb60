"""The sequential canary: the state machine looks every `look_interval`; each look folds the
minutes that completed since the last one into the judge's evidence and asks it. PASS or FAIL at
any look (a PASS during an early step promotes at once: the evidence already rules out the
guarded regression), INCONCLUSIVE only at the plan's end. The verdict is
`rollforward.canary.sequential_judge`'s (method and guarantees: docs/judge.md); the weights and step
lengths are the plan's (`rollforward.canary.plan`, from the function's own traffic).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rollforward.audit.records import AuditEvent
from rollforward.canary.context import CanaryContext
from rollforward.canary.evidence import ran_new_runtime, version_dimensions, whole_window
from rollforward.canary.plan import (
    CanaryPlan,
    no_alias_summary,
    plan_canary,
    unavailable_summary,
)
from rollforward.canary.preflight import ALIAS_TAG, expect_candidate_settings
from rollforward.canary.sequential_judge import (
    Decision,
    DurationP99,
    Evidence,
    Minute,
    accumulate,
    decide,
)
from rollforward.canary.shifting import expect_alias, shift
from rollforward.canary.state import CanaryNext, CanaryState
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.ledger import Pin
from rollforward.policy import Policy
from rollforward.ports import LambdaControl, MetricQuery, Signals

# `AWS/Lambda` datapoints can land a few minutes late: a minute is folded once it is this old,
# and exactly once (an e-process fed a minute twice would count its errors twice).
SETTLED = timedelta(minutes=3)
# How much history the plan reads (hourly Invocations), and the hourly metric's period.
HISTORY = timedelta(days=7)
_HOUR = 3600
_COUNTS = (("invocations", "Invocations"), ("errors", "Errors"), ("throttles", "Throttles"))


def plan(ctx: CanaryContext, pin: Pin, alias: str) -> CanaryPlan:
    """The canary's plan from the alias's hourly `Invocations` over the last `HISTORY`."""
    return plan_canary(_hourly(ctx.signals, pin, alias), ctx.policy.canary)


# Ledger evidence key: the plan as stated before approval (approval request, notice, console).
PLANNED = "canary_plan"


def plan_before_approval(
    lam: LambdaControl, signals: Signals, policy: Policy, pin: Pin
) -> dict[str, object]:
    """What the canary would do, said before approval: the plan from the traffic of the alias
    the canary would use (the tagged one, else the only one), its expected duration, and where
    that traffic cannot decide within `canary.max_duration`, the options. Without a usable
    alias the canary is synthetic, and the sentence says what that needs. Reads only."""
    aliases = lam.aliases(pin.key.function_arn) or []
    tags = lam.tags(pin.key.function_arn)
    wanted = tags.get(ALIAS_TAG)
    chosen = [a for a in aliases if a.name == wanted] if wanted else aliases
    computed_at = iso(utc_now())
    if len(chosen) != 1:
        several, tested = len(chosen) > 1, bool(tags.get(policy.tags.test_events))
        summary = no_alias_summary(
            several=several, test_events_tag=policy.tags.test_events, has_test_events=tested
        )
        return {
            "alias": "",
            "feasible": tested and not several,
            "summary": summary,
            "computed_at": computed_at,
        }
    alias = chosen[0].name
    canary_plan = plan_canary(_hourly(signals, pin, alias), policy.canary)
    return {**canary_plan.to_dict(), "alias": alias, "computed_at": computed_at}


def plan_unavailable(policy: Policy, reason: str) -> dict[str, object]:
    """The plan's record when the traffic could not be read (the request is sent all the same)."""
    return {
        "alias": "",
        "feasible": False,
        "summary": unavailable_summary(policy.canary, reason),
        "computed_at": iso(utc_now()),
    }


def _hourly(signals: Signals, pin: Pin, alias: str) -> list[int]:
    """The alias's hourly `Invocations` over the last `HISTORY`, oldest first (a missing hour
    is an hour without invocations)."""
    end = utc_now().replace(minute=0, second=0, microsecond=0)
    start = end - HISTORY
    name = pin.key.function_name
    query = MetricQuery(
        "invocations",
        "Invocations",
        "Sum",
        (("FunctionName", name), ("Resource", f"{name}:{alias}")),
        period=_HOUR,
    )
    points = signals.metric_series([query], start, end).get("invocations", {})
    hours = int(HISTORY.total_seconds() // _HOUR)
    return [int(points.get(start + timedelta(hours=h), 0.0)) for h in range(hours)]


def begin(state: CanaryState, canary_plan: CanaryPlan) -> None:
    """Record the plan in the state, as the first shift starts it."""
    state.step_seconds = [int(step.duration.total_seconds()) for step in canary_plan.steps]
    state.plan_summary = canary_plan.summary
    state.evidence = Evidence().to_dict()


def look(ctx: CanaryContext, pin: Pin, state: CanaryState) -> CanaryState:
    """One look: fold the settled minutes, decide, then continue, shift, promote or roll back."""
    expect_candidate_settings(ctx, pin)
    expect_alias(ctx, pin, state, state.weight)
    policy = ctx.policy.canary.sequential_policy()
    now = utc_now()
    evidence = Evidence.from_dict(state.evidence) if state.evidence else Evidence()
    begun = parse_iso(state.started_at)
    folded = parse_iso(state.folded_until) if state.folded_until else begun.replace(second=0)
    settled = (now - SETTLED).replace(second=0, microsecond=0)
    if settled > folded:
        evidence = accumulate(evidence, _minutes(ctx, pin, state, folded, settled), policy)
        folded = settled
    state.evidence, state.folded_until = evidence.to_dict(), iso(folded)
    state.looks += 1
    final = bool(state.plan_end) and now >= parse_iso(state.plan_end)
    verdict = decide(
        evidence,
        ctx.firing_alarms(pin),
        policy,
        duration_p99=_p99(ctx, pin, state, begun, max(now, begun + timedelta(minutes=1))),
        final=final,
    )
    decision = verdict.decision
    if decision is Decision.PASS and not ran_new_runtime(ctx, pin, state, now):
        # Log lines can lag: keep looking; only the plan's end turns this into a verdict.
        decision = Decision.INCONCLUSIVE if final else Decision.CONTINUE
        verdict.reasons.append(
            f"no INIT_START shows version {state.candidate_version} on "
            f"{state.candidate_runtime_arn} yet"
        )
    state.add_verdict(
        {
            "look": state.looks,
            "step": state.step_index + 1,
            "weight": state.weight,
            "outcome": decision.value,
            **verdict.evidence,
        }
    )
    ctx.audit.record(
        AuditEvent.CANARY_STEP,
        pin_id=pin.key.id,
        step=f"look {state.looks} (step {state.step_index + 1})",
        verdict={**verdict.to_dict(), "outcome": decision.value},
    )
    if decision is Decision.FAIL:
        state.next, state.reason = CanaryNext.ROLLBACK, "; ".join(verdict.reasons)
    elif decision is Decision.PASS:
        state.next = CanaryNext.PROMOTE
    elif decision is Decision.INCONCLUSIVE:
        state.next = CanaryNext.ASK_HUMAN
        state.reason = "undecided at the plan's end: " + "; ".join(verdict.reasons)
    elif now >= parse_iso(state.step_until) and state.step_index + 1 < len(state.step_seconds):
        return shift(ctx, pin, state, state.step_index + 1)
    else:
        state.next = CanaryNext.BAKE
        state.bake_until = iso(next_look(ctx, state, now))
    ctx.remember(pin, state)
    return state


def next_look(ctx: CanaryContext, state: CanaryState, now: datetime) -> datetime:
    """A look interval from now, but never past the step's or the plan's end."""
    at = now + ctx.policy.canary.look_interval
    for limit in (state.step_until, state.plan_end):
        if limit and parse_iso(limit) > now:
            at = min(at, parse_iso(limit))
    return at


def _minutes(
    ctx: CanaryContext, pin: Pin, state: CanaryState, start: datetime, end: datetime
) -> list[Minute]:
    """Both versions' per-minute counts over [start, end), oldest first; a minute without a
    datapoint is a minute of zeros."""
    queries = [
        MetricQuery(f"{side}_{key}", metric, "Sum", version_dimensions(pin, state.alias, version))
        for side, version in (
            ("candidate", state.candidate_version),
            ("baseline", state.baseline_version),
        )
        for key, metric in _COUNTS
    ]
    series = ctx.signals.metric_series(queries, start, end)
    minutes = []
    for offset in range(int((end - start).total_seconds() // 60)):
        at = start + timedelta(minutes=offset)
        count = {name: int(points.get(at, 0.0)) for name, points in series.items()}
        candidate_n = count.get("candidate_invocations", 0)
        baseline_n = count.get("baseline_invocations", 0)
        minutes.append(
            Minute(
                candidate_invocations=candidate_n,
                # Errors may not exceed invocations (the judge refuses that): clamp a minute
                # whose datapoints disagree rather than fail the canary on it.
                candidate_errors=min(candidate_n, count.get("candidate_errors", 0)),
                baseline_invocations=baseline_n,
                baseline_errors=min(baseline_n, count.get("baseline_errors", 0)),
                candidate_throttles=count.get("candidate_throttles", 0),
                baseline_throttles=count.get("baseline_throttles", 0),
            )
        )
    return minutes


def _p99(
    ctx: CanaryContext, pin: Pin, state: CanaryState, start: datetime, end: datetime
) -> DurationP99:
    """Each version's duration p99 over the canary so far (one datapoint each)."""
    first, period = whole_window(start, end)
    queries = [
        MetricQuery(side, "Duration", "p99", version_dimensions(pin, state.alias, version), period)
        for side, version in (
            ("candidate", state.candidate_version),
            ("baseline", state.baseline_version),
        )
    ]
    series = ctx.signals.metric_series(queries, first, first + timedelta(seconds=period))

    def value(side: str) -> float | None:
        points = series.get(side) or {}
        return max(points.values()) if points else None

    return DurationP99(candidate_ms=value("candidate"), baseline_ms=value("baseline"))
