"""Continue-as-new: hand a pin's episode to a successor execution before the one-year limit.

Step Functions ends a Standard execution TIMED_OUT after one year, while a pin may stay exempt
for up to 300 days and a ladder repeats its rounds. When what a tracking execution plans would
end after its horizon (`contract.beyond_horizon`), the machine waits until the handover time
and calls `hand_over`:

1. start the successor: named after this execution (`<name>-c<n+1>`) with the episode's
   starting input `{pin_id, generation}`, so a retried handover finds the same execution;
2. move the ledger's `execution_arn` from this execution to the successor with a conditional
   write: if another execution owns the episode meanwhile (a restart by the scan), the
   successor is stopped again and this execution ends as superseded;
3. audit it; the caller's execution then ends SUCCEEDED (`TrackingStatus.CONTINUED`), which
   neither the failed-execution alarm nor its rule counts.

The successor re-plans from the ledger, which holds everything the ladder needs (first seen,
notices sent per round, holds), so nothing else is carried over.
"""

from __future__ import annotations

import re

from rollforward.audit.records import AuditEvent
from rollforward.clock import utc_now
from rollforward.contract import TrackingStatus, WorkflowState
from rollforward.ledger import Pin
from rollforward.model import STOP_ERROR_PREFIX
from rollforward.ports import AuditSink, Executions, Ledger

# Step Functions execution names: 1-80 characters.
EXECUTION_NAME_LIMIT = 80
# rollforward's own stops are not failures: the alarm and the rule leave them out.
STOP_SUPERSEDED = f"{STOP_ERROR_PREFIX}Superseded"
_CONTINUATION = re.compile(r"^(?P<base>.+?)(?:-c(?P<n>\d+))?$")


def successor_name(execution_name: str) -> str:
    """`<name>-c1` for a first execution, `<base>-c<n+1>` for the n-th continuation."""
    match = _CONTINUATION.match(execution_name)
    assert match is not None  # the pattern matches any non-empty name
    n = int(match.group("n") or 0)
    name = f"{match.group('base')}-c{n + 1}"
    if len(name) > EXECUTION_NAME_LIMIT:
        raise ValueError(f"execution name longer than {EXECUTION_NAME_LIMIT}: {name}")
    return name


def state_machine_of(execution_arn: str) -> str:
    """`arn:<p>:states:<r>:<a>:stateMachine:<machine>` of `...:execution:<machine>:<name>`
    (the tracking function is not given the machine's ARN: the machine refers to it)."""
    parts = execution_arn.split(":")
    if len(parts) != 8 or parts[5] != "execution":
        raise ValueError(f"not a Step Functions execution ARN: {execution_arn!r}")
    return ":".join([*parts[:5], "stateMachine", parts[6]])


def hand_over(
    *,
    ledger: Ledger,
    executions: Executions,
    audit: AuditSink,
    pin: Pin,
    execution_arn: str,
) -> WorkflowState:
    """Start the successor of `execution_arn` for `pin` and move the ledger to it.
    `executions` is the port on this execution's state machine (`state_machine_of`).

    Returns the reply that ends this execution: `continued`, or `closed` (superseded) when
    another execution owns the episode."""
    name = successor_name(execution_arn.rsplit(":", 1)[-1])
    # An existing execution of that name is returned: a retried handover finds its successor.
    successor = executions.start(name, WorkflowState(pin.key.id, pin.generation).to_dict())
    if not ledger.move_execution(pin, execution_arn, successor, utc_now()):
        executions.stop(
            successor,
            error=STOP_SUPERSEDED,
            cause=f"{pin.key.id}: the ledger names another execution than {execution_arn}",
        )
        return WorkflowState(
            pin.key.id, pin.generation, TrackingStatus.CLOSED, outcome="superseded"
        )
    audit.record(
        AuditEvent.CONTINUED,
        pin_id=pin.key.id,
        actor="rollforward",
        execution=execution_arn,
        successor=successor,
        why="an execution lasts at most one year; the successor carries on from the ledger",
    )
    return WorkflowState(
        pin.key.id, pin.generation, TrackingStatus.CONTINUED, outcome=f"continued in {name}"
    )


__all__ = ["EXECUTION_NAME_LIMIT", "hand_over", "state_machine_of", "successor_name"]
