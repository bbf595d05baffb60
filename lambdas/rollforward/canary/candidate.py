"""The candidate: the same code and configuration on the newest runtime, as a new version.

The baseline version is pinned explicitly (it keeps the old runtime whatever happens to
`$LATEST`, or in Auto's phase two); `$LATEST` goes FunctionUpdate and a configuration touch
applies the newest runtime; publishing snapshots it as the candidate. The touch writes
`$LATEST`'s Description (the one configuration change that alters nothing the function does);
the owner's Description is put back once the candidate is published: the candidate version
keeps rollforward's text, `$LATEST` its own.
"""

from __future__ import annotations

import time

from rollforward.audit.records import AuditEvent
from rollforward.canary.context import CanaryContext
from rollforward.canary.state import VERSION_STRATEGIES, CanaryState, Stop
from rollforward.clock import iso, utc_now
from rollforward.ledger import Pin
from rollforward.model import UpdateMode
from rollforward.transient import Transient

CANDIDATE_DESCRIPTION = "rollforward candidate: newest runtime, same code and configuration"
# LastUpdateStatus is read at once, then after 0.25 s, doubling up to 2 s between reads (most
# updates complete within a second or two), ~60 s in all before the step is retried.
UPDATE_POLL_SECONDS = 0.25
UPDATE_POLL_MAX_SECONDS = 2.0
UPDATE_POLLS = 33


def publish_baseline(ctx: CanaryContext, pin: Pin) -> str:
    """Synthetic strategy: snapshot `$LATEST` as the version to restore and compare with."""
    return ctx.lam.publish_version(pin.key.function_arn, "rollforward baseline")


def make_candidate(ctx: CanaryContext, pin: Pin, state: CanaryState) -> None:
    function_arn = pin.key.function_arn
    _remember_originals(ctx, pin, state)
    # The baseline keeps the old runtime whatever happens to $LATEST or in phase 2. A baseline
    # already Manual is frozen already, and maybe a human's own pin of that version: untouched.
    if state.baseline_setting.get("UpdateRuntimeOn") != UpdateMode.MANUAL:
        ctx.lam.put_runtime_setting(
            function_arn, state.baseline_version, UpdateMode.MANUAL, state.pinned_arn
        )
    if state.strategy not in VERSION_STRATEGIES:
        # (a published version's pin leaves `$LATEST`'s own setting alone: it is not Manual,
        # so the touch below applies the newest runtime as AWS's phase 1 does on any update)
        ctx.lam.put_runtime_setting(function_arn, None, UpdateMode.FUNCTION_UPDATE)
    # A configuration update is what applies the newest runtime in FunctionUpdate mode.
    ctx.lam.set_description(function_arn, f"{CANDIDATE_DESCRIPTION} ({iso(utc_now())})")
    wait_until_updated(ctx, function_arn)
    state.candidate_version = ctx.lam.publish_version(function_arn, CANDIDATE_DESCRIPTION)
    state.candidate_runtime_arn = ctx.lam.runtime_version_in_use(
        function_arn, state.candidate_version
    )
    restore_description(ctx, pin, state)
    ctx.audit.record(
        AuditEvent.CANARY_STEP,
        pin_id=pin.key.id,
        step="candidate",
        strategy=str(state.strategy),
        alias=state.alias,
        baseline_version=state.baseline_version,
        candidate_version=state.candidate_version,
        candidate_runtime_version_arn=state.candidate_runtime_arn,
    )


def _remember_originals(ctx: CanaryContext, pin: Pin, state: CanaryState) -> None:
    """Record, before the first change, what Rollback and `restore_description` put back: the
    baseline version's runtime setting and `$LATEST`'s Description. Read once: a retried step
    must not take rollforward's own changes for the originals."""
    if state.baseline_setting and state.latest_description is not None:
        return
    if not state.baseline_setting:
        original = ctx.setting(pin, state.baseline_version)
        state.baseline_setting = {
            "UpdateRuntimeOn": str(original.mode),
            "RuntimeVersionArn": original.pinned_runtime_version_arn or "",
        }
    if state.latest_description is None:
        state.latest_description = str(
            ctx.lam.configuration(pin.key.function_arn).get("Description") or ""
        )
    ctx.remember(pin, state)


def restore_description(ctx: CanaryContext, pin: Pin, state: CanaryState) -> str | None:
    """`$LATEST`'s Description back to the owner's, if it still reads as the touch left it (a
    human's later change is theirs). What was restored, for Rollback's list, or None.

    Another function update: in FunctionUpdate mode it applies the newest runtime, which
    `$LATEST` runs already after the touch, so call it before Rollback's runtime settings."""
    if state.latest_description is None:
        return None
    function_arn = pin.key.function_arn
    current = str(ctx.lam.configuration(function_arn).get("Description") or "")
    if not current.startswith(CANDIDATE_DESCRIPTION) or current == state.latest_description:
        return None
    ctx.lam.set_description(function_arn, state.latest_description)
    wait_until_updated(ctx, function_arn)
    return "$LATEST's description as it was"


def wait_until_updated(ctx: CanaryContext, function_arn: str, attempts: int = UPDATE_POLLS) -> None:
    """Until the update just made has completed: Lambda refuses the next update and
    PublishVersion while it is in progress (ResourceConflictException)."""
    interval = UPDATE_POLL_SECONDS
    for _ in range(attempts):
        status = ctx.lam.configuration(function_arn).get("LastUpdateStatus", "Successful")
        if status == "Successful":
            return
        if status == "Failed":
            raise Stop("the configuration update that applies the new runtime failed")
        time.sleep(interval)
        interval = min(interval * 2, UPDATE_POLL_MAX_SECONDS)
    raise Transient("the function update is still in progress")
