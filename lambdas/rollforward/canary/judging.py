"""After a bake: judge the candidate against the baseline, then shift on, extend, promote or
roll back. The verdict is the judge's (`rollforward.canary.judge`), pure and separately tested."""

from __future__ import annotations

from rollforward.audit.records import AuditEvent
from rollforward.canary.context import CanaryContext
from rollforward.canary.evidence import ran_new_runtime, sample
from rollforward.canary.judge import JudgePolicy, Outcome, judge
from rollforward.canary.preflight import expect_candidate_settings
from rollforward.canary.shifting import expect_alias, shift
from rollforward.canary.state import CanaryNext, CanaryState
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.ledger import Pin


def judge_step(
    ctx: CanaryContext, pin: Pin, state: CanaryState, judge_policy: JudgePolicy
) -> CanaryState:
    expect_candidate_settings(ctx, pin)
    expect_alias(ctx, pin, state, state.weight)
    window_end = utc_now()
    start = parse_iso(state.window_start)
    candidate = sample(ctx, pin, state, state.candidate_version, start, window_end)
    baseline = sample(ctx, pin, state, state.baseline_version, start, window_end)
    verdict = judge(candidate, baseline, ctx.firing_alarms(pin), judge_policy)
    state.add_verdict(
        {
            "step": state.step_index + 1,
            "weight": state.weight,
            "outcome": str(verdict.outcome),
            **verdict.evidence,
        }
    )
    ctx.audit.record(
        AuditEvent.CANARY_STEP,
        pin_id=pin.key.id,
        step=f"judge {state.step_index + 1}",
        verdict=verdict.to_dict(),
    )
    if verdict.outcome is Outcome.FAIL:
        state.next, state.reason = CanaryNext.ROLLBACK, "; ".join(verdict.reasons)
        return state
    if verdict.outcome is Outcome.INCONCLUSIVE:
        if state.extensions < ctx.policy.canary.max_extensions:
            state.extensions += 1
            state.bake_until = iso(window_end + ctx.policy.canary.bake)
            state.next = CanaryNext.BAKE
            return state
        state.next = CanaryNext.ASK_HUMAN
        state.reason = "inconclusive after the longest bake: " + "; ".join(verdict.reasons)
        return state
    if state.step_index + 1 < len(ctx.policy.canary.steps):
        return shift(ctx, pin, state, state.step_index + 1)
    if not ran_new_runtime(ctx, pin, state, window_end):
        state.next = CanaryNext.ROLLBACK
        state.reason = f"no INIT_START shows version {state.candidate_version} on {state.candidate_runtime_arn}"
        return state
    state.next = CanaryNext.PROMOTE
    return state
