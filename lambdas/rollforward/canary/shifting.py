"""Moving the alias's weight, only ever from the state rollforward left it in.

Every UpdateAlias carries the RevisionId rollforward just read: a human change that lands in
between makes Lambda answer 412, and rollforward hands back instead of overwriting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from rollforward.audit.notices import NoticeKind
from rollforward.audit.records import AuditEvent
from rollforward.canary.context import CanaryContext
from rollforward.canary.state import CanaryNext, CanaryState, JudgeKind, Stop
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.ledger import Pin
from rollforward.transient import ConditionFailed


def shift(ctx: CanaryContext, pin: Pin, state: CanaryState, index: int) -> CanaryState:
    """Alias to step `index`'s weight on the candidate; bake it."""
    steps = ctx.policy.canary.steps
    previous = state.weight if index > 0 else None
    revision = expect_alias(ctx, pin, state, previous)
    weight = float(steps[index])
    update_alias(
        ctx,
        pin,
        state,
        revision,
        version=state.baseline_version,
        weights={state.candidate_version: weight},
    )
    now = utc_now()
    state.step_index, state.weight, state.extensions = index, weight, 0
    state.window_start = iso(now)
    if state.judge == JudgeKind.SEQUENTIAL:
        _plan_step(ctx, state, index, now)
    else:
        state.bake_until = iso(now + ctx.policy.canary.bake)
    state.next = CanaryNext.BAKE
    ctx.audit.record(
        AuditEvent.CANARY_STEP,
        pin_id=pin.key.id,
        step=f"shift {index + 1}/{len(steps)}",
        weight=weight,
        bake_until=state.bake_until,
    )
    if index == 0:
        state.started_at = state.window_start
        ctx.notify(
            NoticeKind.CANARY_STARTED,
            pin,
            next_step=f"{weight:.0%} of traffic goes to the new runtime until {state.bake_until}; rollforward rolls back on any regression.",
            facts={
                "Candidate version": state.candidate_version,
                "Baseline version": state.baseline_version,
                **({"Plan": state.plan_summary} if state.plan_summary else {}),
            },
        )
    ctx.remember(pin, state)  # the ledger shows the running canary's step
    return state


def _plan_step(ctx: CanaryContext, state: CanaryState, index: int, now: datetime) -> None:
    """Sequential judge: the step lasts what the plan says (the last one to the plan's end);
    the next look is a look interval away."""
    if index == 0:
        state.plan_end = iso(now + timedelta(seconds=sum(state.step_seconds)))
    last = index + 1 >= len(state.step_seconds)
    state.step_until = (
        state.plan_end if last else iso(now + timedelta(seconds=state.step_seconds[index]))
    )
    state.bake_until = iso(min(now + ctx.policy.canary.look_interval, parse_iso(state.step_until)))


def update_alias(
    ctx: CanaryContext,
    pin: Pin,
    state: CanaryState,
    revision: str,
    *,
    version: str,
    weights: Mapping[str, float],
) -> None:
    """UpdateAlias on the revision rollforward just read; a newer one is a human: hand back."""
    try:
        ctx.lam.update_alias(
            pin.key.function_arn,
            state.alias,
            version=version,
            weights=weights,
            revision_id=revision,
        )
    except ConditionFailed as error:
        raise Stop(
            f"alias {state.alias} was changed by someone else while rollforward was "
            "changing it: handing back",
            hand_back=True,
        ) from error


def expect_alias(ctx: CanaryContext, pin: Pin, state: CanaryState, weight: float | None) -> str:
    """The alias is exactly as rollforward left it (else a human took over); its revision."""
    alias = ctx.lam.alias(pin.key.function_arn, state.alias)
    expected = {} if weight is None else {state.candidate_version: weight}
    if alias.function_version != state.baseline_version or dict(alias.weights) != expected:
        raise Stop(
            f"alias {state.alias} was changed by someone else (now version {alias.function_version}, "
            f"weights {dict(alias.weights)}): handing back",
            hand_back=True,
        )
    return alias.revision_id


def alias_promoted(ctx: CanaryContext, pin: Pin, state: CanaryState) -> bool:
    """The alias serves the candidate alone, as promote leaves it."""
    alias = ctx.lam.alias(pin.key.function_arn, state.alias)
    return alias.function_version == state.candidate_version and not alias.weights
