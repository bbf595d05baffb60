"""Rolling back: restore exactly what rollforward set, leave alone what a human set.

Alias 100% on the baseline version, `$LATEST` Manual on the original pinned ARN, the baseline
version's own setting as it was. Idempotent: a retried or looped Rollback finds its own earlier
work done. A function or alias deleted meanwhile is nothing to restore.

A Rollback never gives up: when it fails after its own retries, `rollback_failed` counts the
failure and plans the next try (backoff from the policy, doubling, capped); from the policy's
threshold on, on-call is told (and the handler publishes RollbackStuck) while it goes on.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from rollforward.audit.notices import NoticeKind
from rollforward.audit.records import AuditEvent
from rollforward.canary.candidate import restore_description
from rollforward.canary.context import CanaryContext
from rollforward.canary.shifting import update_alias
from rollforward.canary.state import (
    ALIAS_STRATEGIES,
    IN_FLIGHT,
    CanaryState,
    RollbackRetry,
    Stop,
    Strategy,
    settled,
)
from rollforward.clock import iso, utc_now
from rollforward.escalation.progress import Attempt, with_attempt
from rollforward.ledger import Pin, PinKind, Stage
from rollforward.model import LATEST, PinKey, RuntimeSetting, UpdateMode
from rollforward.ports import Alias, NotFound


def rollback(ctx: CanaryContext, pin: Pin, state: CanaryState, reason: str) -> Pin:
    function_arn = pin.key.function_arn
    restored: list[str] = []
    alias: Alias | None = None
    if state.strategy in ALIAS_STRATEGIES and state.alias and state.baseline_version:
        try:
            alias = ctx.lam.alias(function_arn, state.alias)
        except NotFound:
            restored.append(f"alias {state.alias} no longer exists")
    try:
        restored.extend(_restore(ctx, pin, state, alias))
    except NotFound:
        # Deleted between two of our calls (the alias read and its update, say): nothing is
        # left to restore, and the tracker closes the pin as deleted.
        restored.append("the function no longer exists")
    now = utc_now()
    evidence = with_attempt(
        {
            **settled(pin.evidence),
            "last_canary": {**state.to_dict(), "rolled_back_because": reason, "restored": restored},
        },
        Attempt("rolled_back", now, reason, state.candidate_runtime_arn),
    )
    pin = ctx.ledger.update(pin, now, stage=Stage.TRACKING, evidence=evidence)
    ctx.release(pin)
    ctx.audit.record(
        AuditEvent.ROLLED_BACK,
        pin_id=pin.key.id,
        reason=reason,
        restored=restored,
        verdicts=state.verdicts,
    )
    ctx.notify(
        NoticeKind.ROLLED_BACK,
        pin,
        next_step="The function is exactly as it was; rollforward keeps tracking the pin and asks again later.",
        facts={"Why": reason[:400], "Restored": "; ".join(restored) or "nothing had changed"},
    )
    return pin


def _restore(ctx: CanaryContext, pin: Pin, state: CanaryState, alias: Alias | None) -> list[str]:
    """Each write after its own fresh read; what was restored, and what was left to a human."""
    function_arn = pin.key.function_arn
    restored: list[str] = []
    if alias is not None:
        if ours_alias(pin, state, alias):
            try:
                update_alias(
                    ctx, pin, state, alias.revision_id, version=state.baseline_version, weights={}
                )
                restored.append(f"alias {state.alias} 100% on version {state.baseline_version}")
            except Stop:
                restored.append(f"alias {state.alias} left as a human set it")
        else:
            restored.append(f"alias {state.alias} left as a human set it")
    pinned_arn = state.pinned_arn or pin.pinned_runtime_version_arn
    # Before any runtime setting: a Description update is a function update, which would apply
    # the newest runtime to a `$LATEST` already put back in FunctionUpdate mode.
    if description := restore_description(ctx, pin, state):
        restored.append(description)
    if pin.key.qualifier != LATEST:
        restored.extend(_restore_version(ctx, pin, state, pinned_arn))
        return restored
    live = ctx.lam.runtime_setting(PinKey(function_arn, LATEST))
    if live is None:  # deleted mid-canary: nothing left to restore; the tracker closes the pin
        restored.append("the function no longer exists")
        return restored
    if pin.kind is PinKind.FUNCTION_UPDATE and not state.baseline_setting:
        # Recorded before the candidate changes anything: without it rollforward never touched
        # $LATEST, and a FunctionUpdate $LATEST on another runtime is the owner's deploy.
        restored.append(f"$LATEST left as it is ({live.mode}): rollforward had not changed it")
    elif pin.kind is PinKind.FUNCTION_UPDATE and _function_update_restored(ctx, pin, live):
        restored.append("$LATEST FunctionUpdate on the original runtime version")
    elif live.mode is UpdateMode.FUNCTION_UPDATE or (
        state.promoted and live.mode is UpdateMode.AUTO
    ):
        ctx.lam.put_runtime_setting(function_arn, None, UpdateMode.MANUAL, pinned_arn)
        if pin.kind is PinKind.FUNCTION_UPDATE:
            # Manual put $LATEST back on the runtime version it ran; FunctionUpdate keeps that
            # version until the next update of the function: exactly as it was.
            ctx.lam.put_runtime_setting(function_arn, None, UpdateMode.FUNCTION_UPDATE)
            restored.append("$LATEST FunctionUpdate on the original runtime version")
        else:
            restored.append("$LATEST Manual on the original runtime version")
    elif (
        pin.kind is PinKind.FUNCTION_UPDATE
        and live.mode is UpdateMode.MANUAL
        and live.pinned_runtime_version_arn == pinned_arn
    ):  # an earlier attempt stopped between its two puts
        ctx.lam.put_runtime_setting(function_arn, None, UpdateMode.FUNCTION_UPDATE)
        restored.append("$LATEST FunctionUpdate on the original runtime version")
    elif not (live.mode is UpdateMode.MANUAL and live.pinned_runtime_version_arn == pinned_arn):
        restored.append(f"$LATEST left as a human set it ({live.mode})")
    original = state.baseline_setting
    if state.baseline_version and original and original.get("UpdateRuntimeOn") != UpdateMode.MANUAL:
        # Re-read first: only the pin rollforward put on the baseline is undone, never a human's.
        baseline = ctx.lam.runtime_setting(PinKey(function_arn, state.baseline_version))
        if baseline is not None and (
            baseline.mode is UpdateMode.MANUAL and baseline.pinned_runtime_version_arn == pinned_arn
        ):
            ctx.lam.put_runtime_setting(
                function_arn, state.baseline_version, UpdateMode(original["UpdateRuntimeOn"])
            )
            restored.append(
                f"version {state.baseline_version} back to {original['UpdateRuntimeOn']}"
            )
        elif baseline is not None:
            restored.append(f"version {state.baseline_version} left as a human set it")
    return restored


def _function_update_restored(ctx: CanaryContext, pin: Pin, live: RuntimeSetting) -> bool:
    """A FunctionUpdate item's `$LATEST` is already as it was (a retried rollback)."""
    if live.mode is not UpdateMode.FUNCTION_UPDATE:
        return False
    in_use = ctx.lam.runtime_version_in_use(pin.key.function_arn, LATEST)
    return in_use == pin.pinned_runtime_version_arn


def _restore_version(
    ctx: CanaryContext, pin: Pin, state: CanaryState, pinned_arn: str
) -> list[str]:
    """A published version's pin: rollforward changed that version's setting only when it
    promoted (Auto, or — invoked by its qualifier — Manual on the candidate's runtime version
    until verified); `$LATEST`'s own setting it never changed. Re-read before the write."""
    version = pin.key.qualifier
    live = ctx.lam.runtime_setting(PinKey(pin.key.function_arn, version))
    if live is None:
        return [f"version {version} no longer exists"]
    if live.mode is UpdateMode.MANUAL and live.pinned_runtime_version_arn == pinned_arn:
        return []  # as it was
    ours = live.mode is UpdateMode.AUTO or (
        state.strategy == Strategy.VERSION_SYNTHETIC
        and live.mode is UpdateMode.MANUAL
        and bool(state.candidate_runtime_arn)
        and live.pinned_runtime_version_arn == state.candidate_runtime_arn
    )
    if state.promoted and ours:
        ctx.lam.put_runtime_setting(pin.key.function_arn, version, UpdateMode.MANUAL, pinned_arn)
        return [f"version {version} Manual on the original runtime version"]
    return [f"version {version} left as a human set it ({live.mode})"]


def stopped(ctx: CanaryContext, pin: Pin, reason: str) -> Pin:
    """Preflight refused before any change: the owner learns exactly why."""
    now = utc_now()
    pin = ctx.ledger.update(
        pin,
        now,
        stage=Stage.TRACKING,
        evidence=with_attempt(
            {**pin.evidence, "stopped": {"at": iso(now), "reason": reason}},
            Attempt("stopped", now, reason),
        ),
    )
    ctx.release(pin)
    ctx.audit.record(AuditEvent.STOPPED, pin_id=pin.key.id, reason=reason)
    ctx.notify(
        NoticeKind.STOPPED,
        pin,
        next_step="Nothing was changed. Fix the cause, and rollforward asks for approval again.",
        facts={"Why": reason[:400]},
    )
    return pin


def ours_alias(pin: Pin, state: CanaryState, alias: Alias) -> bool:
    """The alias is in a state rollforward put it in: on the baseline with (at most) weight on
    the candidate, or 100% on the candidate once Promote began. 100% on the candidate before
    that is a human's doing (e.g. promoting by hand): left alone."""
    if not set(alias.weights) <= {state.candidate_version}:
        return False
    if alias.function_version == state.baseline_version:
        return True
    if alias.function_version != state.candidate_version or alias.weights:
        return False
    recorded = pin.evidence.get(IN_FLIGHT) or {}
    return bool(
        state.promoting or state.promoted or recorded.get("promoting") or recorded.get("promoted")
    )


def backoff(failures: int, first: timedelta, cap: timedelta) -> timedelta:
    """The wait after the `failures`-th Rollback failure in a row (1-based): `first`,
    doubling each time, never more than `cap`."""
    doublings: int = min(max(failures - 1, 0), 40)
    wait: timedelta = first * (2**doublings)
    return min(cap, wait)


def rollback_failed(
    ctx: CanaryContext, pin: Pin | None, earlier: RollbackRetry | None, error: str
) -> RollbackRetry:
    """Rollback failed again (after its own retries): when to try next, and whether it is
    stuck. Best effort beyond the plan: the loop must go on even when audit or notices fail
    (`pin` is None once the pin closed: the next Rollback then ends the canary)."""
    settings = ctx.policy.canary
    failures = (earlier.attempts if earlier else 0) + 1
    wait = backoff(failures, settings.rollback_backoff, settings.rollback_backoff_max)
    now = utc_now()
    retry = RollbackRetry(
        attempts=failures,
        wait_seconds=max(1, int(wait.total_seconds())),
        retry_at=iso(now + wait),
        stuck=failures >= settings.rollback_alarm_after,
    )
    if pin is None:
        return retry
    with suppress(Exception):  # the audit trail is down too: the retry matters more
        ctx.audit.record(
            AuditEvent.CANARY_STEP,
            pin_id=pin.key.id,
            step="rollback failed",
            attempts=failures,
            retry_at=retry.retry_at,
            stuck=retry.stuck,
            error=error[:500],
        )
    if (
        retry.stuck
        and (failures - settings.rollback_alarm_after) % settings.rollback_alarm_after == 0
    ):
        ctx.notify(
            NoticeKind.ROLLBACK_STUCK,
            pin,
            next_step=(
                f"rollforward tries again at {retry.retry_at} and keeps trying (waits double "
                f"up to {settings.rollback_backoff_max}). Look at the function's alias and "
                "runtime settings; restore them by hand if you must: rollforward leaves a "
                "human's change alone."
            ),
            facts={"Failed attempts": str(failures), "Last error": error[:400] or "-"},
        )
    return retry
