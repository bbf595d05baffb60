"""Step Functions → canary tasks: `{action, state, execution}` in, the new `$` out.

Every path that changed something and cannot go on ends in `rollback`, which restores what
rollforward set and leaves alone what a human set. `$.canary` carries the canary's state.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from rollforward import failures
from rollforward.canary import IN_FLIGHT, Canary, CanaryNext, CanaryState, Stop
from rollforward.clock import utc_now
from rollforward.handlers import wiring
from rollforward.ledger import Stage
from rollforward.tracking import WorkflowState
from rollforward.transient import Transient

logger = Logger()
tracer = Tracer()


def _with(state: dict[str, Any], canary: CanaryState, **extra: Any) -> dict[str, Any]:
    return {**state, **extra, "canary": canary.to_dict()}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = wiring.FunctionSettings.from_env()
    tracker = wiring.tracker(settings)
    canary = wiring.canary(settings)
    raw = dict(event.get("state") or {})
    workflow = WorkflowState.from_dict(raw)
    state = CanaryState.from_dict(raw.get("canary"))
    action = str(event.get("action"))
    pin = tracker.load(workflow)
    if pin is None or not pin.is_open:
        return {**workflow.to_dict(), "status": "closed", "outcome": "superseded"}
    if not state.strategy and pin.stage is Stage.CANARY:
        # A StartCanary attempt changed things and died before the workflow saw its output (a
        # retried or finally failed start): it recorded what it was changing in the ledger.
        state = CanaryState.from_dict(pin.evidence.get(IN_FLIGHT))
    try:
        if action == "start":
            try:
                state = canary.start(pin, raw.get("decision") or {})
            except Stop as stop:
                if state.candidate_version or stop.hand_back:
                    return _rolled_back(tracker, canary, pin, raw, state, stop.reason)
                canary.stopped(pin, stop.reason)
                _count_outcome("stopped")
                fresh = tracker.load(workflow) or pin
                return {
                    **(tracker.opt_out(fresh) or tracker.plan(fresh, utc_now())).to_dict(),
                    "canary": {"next": CanaryNext.STOPPED.value, "reason": stop.reason},
                }
            return _with(raw, state)
        if action == "judge":
            state = canary.judge_step(pin, state)
            return _with(raw, state)
        if action == "promote":
            return _with(raw, canary.promote(pin, state))
        if action == "verify":
            return _with(raw, canary.verify(pin, state))
        if action == "resolve":
            canary.resolve(pin, state)
            _count_outcome("promoted")
            return {
                **workflow.to_dict(),
                "status": "closed",
                "outcome": "resolved",
                "canary": state.to_dict(),
            }
        if action == "rollback":
            failure = raw.get("failure") or {}
            # A sentence, never Lambda's error document with its stack trace (that stays in
            # the execution history).
            reason = (
                state.reason
                or failures.describe(failure.get("Error", ""), failure.get("Cause", "")).sentence
            )
            return _rolled_back(tracker, canary, pin, raw, state, reason)
        raise ValueError(f"unknown canary action {action!r}")
    except Stop as stop:
        state.next, state.reason = CanaryNext.ROLLBACK, stop.reason
        return _with(raw, state)
    except Transient as error:
        raise wiring.transient_error(str(error)) from error


def _rolled_back(
    tracker: Any, canary: Canary, pin: Any, raw: dict[str, Any], state: CanaryState, reason: str
) -> dict[str, Any]:
    pin = canary.rollback(pin, state, reason)
    # A human may have lifted or re-pinned meanwhile: the live setting decides what is next.
    tracker.observe(pin.key, actor="rollforward (after rollback)", source="canary")
    workflow = WorkflowState.from_dict(raw)
    fresh = tracker.load(workflow)
    planned = (
        (tracker.opt_out(fresh) or tracker.plan(fresh, utc_now()))
        if fresh
        else WorkflowState(workflow.pin_id, workflow.generation, "closed")
    )
    _count_outcome("rolled_back")
    return {
        **planned.to_dict(),
        "canary": {**state.to_dict(), "next": CanaryNext.ROLLED_BACK.value, "reason": reason},
    }


def _count_outcome(outcome: str) -> None:
    """EMF: CanaryOutcomes by outcome (promoted, rolled_back, stopped), for the dashboard.
    Its own record, so the `outcome` dimension never sticks to other metrics."""
    with single_metric(
        name="CanaryOutcomes", unit=MetricUnit.Count, value=1, namespace="rollforward"
    ) as metric:
        metric.add_dimension(name="outcome", value=outcome)
