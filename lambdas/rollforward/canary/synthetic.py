"""Functions invoked unqualified (no alias): the candidate meets the owner's test events.

The test events are a JSON list in the SSM parameter the function's tag names. If they all pass
on the candidate, `$LATEST` goes Auto and bakes against its own earlier window (`verify`).
Without test events, only an approval that accepts the risk (`accept_untested`) goes ahead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rollforward.audit.records import AuditEvent
from rollforward.canary.context import CanaryContext
from rollforward.canary.promote import promote_settings
from rollforward.canary.state import CanaryNext, CanaryState, Stop
from rollforward.clock import iso, utc_now
from rollforward.ledger import Pin
from rollforward.ports import NotFound, Refused

MAX_SYNTHETIC_EVENTS = 20


def test_events(ctx: CanaryContext, tags: Mapping[str, str]) -> list[Any]:
    """The owner's test events ([] when the function names none); unreadable ones stop."""
    parameter = tags.get(ctx.policy.tags.test_events)
    if not parameter:
        return []
    try:
        events = json.loads(ctx.signals.parameter(parameter))
    except (NotFound, Refused, ValueError) as error:
        raise Stop(f"test events parameter {parameter} is unreadable: {error}") from error
    if not isinstance(events, list) or not events:
        raise Stop(f"test events parameter {parameter} must hold a non-empty JSON list of events")
    return events[:MAX_SYNTHETIC_EVENTS]


def synthetic_test(
    ctx: CanaryContext, pin: Pin, state: CanaryState, tags: Mapping[str, str]
) -> CanaryState:
    events = test_events(ctx, tags)
    failures = [
        index
        for index, event in enumerate(events)
        if ctx.lam.invoke(pin.key.function_arn, state.candidate_version, json.dumps(event).encode())
    ]
    ctx.audit.record(
        AuditEvent.CANARY_STEP,
        pin_id=pin.key.id,
        step="synthetic",
        events=len(events),
        failures=failures,
    )
    if failures:
        state.next, state.reason = (
            CanaryNext.ROLLBACK,
            f"test events {failures} failed on the candidate runtime",
        )
        return state
    now = utc_now()
    state.window_start = iso(now)
    promote_settings(ctx, pin, state)
    state.bake_until = iso(now + ctx.policy.canary.post_promotion_bake)
    state.next = CanaryNext.POST_BAKE
    return state
