"""The candidate: the same code and configuration on the newest runtime, as a new version.

The baseline version is pinned explicitly (it keeps the old runtime whatever happens to
`$LATEST`, or in Auto's phase two); `$LATEST` goes FunctionUpdate and a configuration touch
applies the newest runtime; publishing snapshots it as the candidate.
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
# Seconds between two LastUpdateStatus reads, and how many before the step is retried.
UPDATE_POLL_SECONDS = 2.0
UPDATE_POLLS = 30


def publish_baseline(ctx: CanaryContext, pin: Pin) -> str:
    """Synthetic strategy: snapshot `$LATEST` as the version to restore and compare with."""
    return ctx.lam.publish_version(pin.key.function_arn, "rollforward baseline")


def make_candidate(ctx: CanaryContext, pin: Pin, state: CanaryState) -> None:
    function_arn = pin.key.function_arn
    if not state.baseline_setting:
        original = ctx.setting(pin, state.baseline_version)
        state.baseline_setting = {
            "UpdateRuntimeOn": str(original.mode),
            "RuntimeVersionArn": original.pinned_runtime_version_arn or "",
        }
        ctx.remember(pin, state)
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
    ctx.lam.touch_configuration(function_arn, f"{CANDIDATE_DESCRIPTION} ({iso(utc_now())})")
    wait_until_updated(ctx, function_arn)
    state.candidate_version = ctx.lam.publish_version(function_arn, CANDIDATE_DESCRIPTION)
    state.candidate_runtime_arn = ctx.lam.runtime_version_in_use(
        function_arn, state.candidate_version
    )
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


def wait_until_updated(ctx: CanaryContext, function_arn: str, attempts: int = UPDATE_POLLS) -> None:
    for _ in range(attempts):
        status = ctx.lam.configuration(function_arn).get("LastUpdateStatus", "Successful")
        if status == "Successful":
            return
        if status == "Failed":
            raise Stop("the configuration update that applies the new runtime failed")
        time.sleep(UPDATE_POLL_SECONDS)
    raise Transient("the function update is still in progress")
