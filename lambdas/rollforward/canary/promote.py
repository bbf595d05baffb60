"""Promotion and its verification: the alias 100% on the candidate, candidate and `$LATEST`
on Auto, then a post-promotion bake judged against the canary's baseline."""

from __future__ import annotations

from rollforward.audit.notices import NoticeKind
from rollforward.audit.records import AuditEvent
from rollforward.canary.context import CanaryContext
from rollforward.canary.evidence import qualified_sample, sample, unqualified_sample
from rollforward.canary.judge import JudgePolicy, Outcome, VersionSample, judge
from rollforward.canary.shifting import alias_promoted, expect_alias, update_alias
from rollforward.canary.state import (
    ALIAS_STRATEGIES,
    CanaryNext,
    CanaryState,
    Stop,
    Strategy,
    settled,
)
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.escalation.progress import Attempt, with_attempt
from rollforward.ledger import Pin, Stage
from rollforward.model import LATEST, UpdateMode


def promote(ctx: CanaryContext, pin: Pin, state: CanaryState) -> CanaryState:
    # A retried Promote finds the alias already moved by its earlier attempt.
    if not alias_promoted(ctx, pin, state):
        revision = expect_alias(ctx, pin, state, state.weight)
        state.promoting = True
        ctx.remember(pin, state)  # before the alias moves: Rollback must know it was us
        update_alias(ctx, pin, state, revision, version=state.candidate_version, weights={})
    promote_settings(ctx, pin, state)
    now = utc_now()
    state.window_start = iso(now)
    state.bake_until = iso(now + ctx.policy.canary.post_promotion_bake)
    state.next = CanaryNext.POST_BAKE
    ctx.audit.record(
        AuditEvent.CANARY_STEP,
        pin_id=pin.key.id,
        step="promote",
        alias=state.alias,
        version=state.candidate_version,
    )
    return state


def promote_settings(ctx: CanaryContext, pin: Pin, state: CanaryState) -> None:
    """Candidate and the pinned version to Auto: from here on AWS keeps the function patched.
    A published version invoked by its qualifier (no alias) instead moves itself, Manual on the
    runtime version its candidate was tested on: Manual applies that ARN at once, Auto would
    wait for phase 2; it goes Auto once the post-promotion bake verified it (`verify`)."""
    state.promoted = True
    # Recorded before the first Put: a canary whose execution dies from here on (in the
    # post-promotion bake, say) is restored by a Rollback that reads only the ledger, and it
    # must know that the pinned version on Auto (or on the candidate's runtime version) was
    # rollforward's doing, not a human's lift.
    ctx.remember(pin, state)
    if state.strategy == Strategy.VERSION_SYNTHETIC:
        ctx.lam.put_runtime_setting(
            pin.key.function_arn,
            pin.key.qualifier,
            UpdateMode.MANUAL,
            state.candidate_runtime_arn,
        )
        return
    unpin(ctx, pin, state)


def unpin(ctx: CanaryContext, pin: Pin, state: CanaryState) -> None:
    """Candidate and the pinned version (`$LATEST`, or the published version: the alias no
    longer routes to it, or it runs the verified runtime already) on Auto."""
    function_arn = pin.key.function_arn
    if not state.promoted:
        state.promoted = True
        ctx.remember(pin, state)  # before the first Put, as in `promote_settings`
    if state.candidate_version:
        ctx.lam.put_runtime_setting(function_arn, state.candidate_version, UpdateMode.AUTO)
    qualifier = None if pin.key.qualifier == LATEST else pin.key.qualifier
    ctx.lam.put_runtime_setting(function_arn, qualifier, UpdateMode.AUTO)


def verify(
    ctx: CanaryContext, pin: Pin, state: CanaryState, judge_policy: JudgePolicy
) -> CanaryState:
    """After the post-promotion bake: the new runtime, alone, against the canary's baseline."""
    if state.strategy in ALIAS_STRATEGIES and not alias_promoted(ctx, pin, state):
        raise Stop(
            f"alias {state.alias} was changed by someone else after promotion: handing back",
            hand_back=True,
        )
    if state.strategy == Strategy.VERSION_SYNTHETIC:
        live = ctx.setting(pin, pin.key.qualifier)
        if (
            live.mode is not UpdateMode.MANUAL
            or live.pinned_runtime_version_arn != state.candidate_runtime_arn
        ):
            raise Stop(
                f"the runtime setting of version {pin.key.qualifier} was changed after "
                f"promotion (now {live.mode}): handing back",
                hand_back=True,
            )
    end = utc_now()
    start = parse_iso(state.window_start)
    if state.strategy == Strategy.VERSION_SYNTHETIC:
        # The version's own traffic (Resource `name:N`), now against the same span before.
        span = end - start
        candidate = qualified_sample(ctx, pin, pin.key.qualifier, start, end)
        baseline = qualified_sample(ctx, pin, pin.key.qualifier, start - span, start)
    elif state.strategy in ALIAS_STRATEGIES:
        candidate = sample(ctx, pin, state, state.candidate_version, start, end)
        last = state.verdicts[-1] if state.verdicts else {}
        baseline = VersionSample(
            invocations=int(last.get("baseline_invocations", 0) or 0),
            errors=int(last.get("baseline_errors", 0) or 0),
        )
    else:
        candidate = unqualified_sample(ctx, pin, start, end)
        span = end - start
        baseline = unqualified_sample(ctx, pin, start - span, start)
    verdict = judge(candidate, baseline, ctx.firing_alarms(pin), judge_policy)
    state.add_verdict(
        {"step": "post-promotion", "outcome": str(verdict.outcome), **verdict.evidence}
    )
    if verdict.outcome is Outcome.FAIL:
        state.next = CanaryNext.ROLLBACK
        state.reason = "after promotion: " + "; ".join(verdict.reasons)
    else:
        # Inconclusive after promotion (too little traffic) is accepted: the candidate already
        # passed its steps, and AWS keeps Auto functions patched from here on. The pin's outcome
        # says so rather than "verified".
        if verdict.outcome is Outcome.INCONCLUSIVE:
            state.reason = (
                "promoted; not verified after promotion ("
                + "; ".join(verdict.reasons or ["inconclusive"])
                + "): accepted, as the candidate passed every step"
            )
        if state.strategy == Strategy.VERSION_SYNTHETIC:
            unpin(ctx, pin, state)  # verified on its new runtime: now it follows AWS (Auto)
        state.next = CanaryNext.RESOLVED
    return state


def resolve(ctx: CanaryContext, pin: Pin, state: CanaryState) -> Pin:
    """Close the pin as resolved, with the canary's evidence; tell the owner."""
    now = utc_now()
    outcome = {
        "result": "resolved",
        "at": iso(now),
        "detail": state.reason or "promoted and verified",
    }
    evidence = with_attempt(
        {**settled(pin.evidence), "canary": state.to_dict()},
        Attempt("promoted", now, outcome["detail"], state.candidate_runtime_arn),
    )
    pin = ctx.ledger.update(pin, now, stage=Stage.RESOLVED, evidence=evidence, outcome=outcome)
    ctx.release(pin)
    ctx.audit.record(
        AuditEvent.PROMOTED,
        pin_id=pin.key.id,
        candidate_version=state.candidate_version,
        runtime_version_arn=state.candidate_runtime_arn,
        verdicts=state.verdicts,
    )
    ctx.audit.record(AuditEvent.RESOLVED, pin_id=pin.key.id, detail=outcome["detail"])
    ctx.notify(
        NoticeKind.PROMOTED,
        pin,
        next_step="Nothing: the function follows AWS runtime updates again (Auto).",
        facts={
            "Candidate version": state.candidate_version or "-",
            "Runtime version ARN": state.candidate_runtime_arn or "-",
        },
    )
    return pin
