"""The typed contract between the remediation state machine and its Lambda tasks.

Every Lambda task receives the envelope `{"action", "state": $, "execution", "started_at"}`
(`TaskEnvelope`) and its reply *is* the next `$` (`output_path="$.Payload"`). So the paths the
machine reads are field names of these models, and the values its Choice states compare are
members of these enums: `workflows/remediation.py` builds every Choice, Wait and Parameters
path from them (`path(...)`), and `tests/workflow/test_contract.py` walks the synthesized ASL
and checks that each path a state reads is declared in the JSON schema of what the state
before it outputs (`TASK_OUTPUTS`: the reply model of every (handler, action)).

Models are validated on the way in (a handler refuses a `$` that is not one of these) and
dumped on the way out with `reply()` (JSON mode, absent optionals left out: a Choice guards
those with `IsPresent`). They stay small: a state's payload is limited to 256 KiB.

Continue-as-new: an execution lasts at most one year on AWS, while a ladder may wait out an
exemption of up to 300 days and then repeat. `beyond_horizon()` decides, for any reply that
plans a wait, whether the wait (and the approval it leads to) ends after this execution's
horizon (`EXECUTION_HORIZON` after its start); if so the reply says `continue` with
`continue_at`, and the machine waits until then, hands the pin to a successor execution
(`rollforward.escalation.continuation`) and ends SUCCEEDED.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Self, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rollforward.canary.state import CanaryNext, CanaryState, RollbackRetry
from rollforward.clock import iso, parse_iso

# Executions end TIMED_OUT after one year (Step Functions Standard quota). A successor is
# started this long after an execution began: 65 days of margin for an approval (at most its
# timeout) and a canary (hours) planned just before the horizon.
EXECUTION_HORIZON = timedelta(days=300)
EXECUTION_LIMIT = timedelta(days=365)
# An execution never hands over before it is this old, so a plan that cannot fit any
# execution (a misconfigured horizon) waits in steps instead of spinning through successors.
MIN_EXECUTION_AGE = timedelta(days=1)


# ------------------------------------------------------------------------------- values
class TrackingStatus(StrEnum):
    """`$.status`, read by the `NextStep` Choice."""

    TRACKING = "tracking"  # `next` holds the planned rung
    APPROVED = "approved"  # the approval was recorded; the canary starts
    CLOSED = "closed"  # lifted, resolved, deleted, exempt, superseded or failed: stop
    CONTINUE = "continue"  # wait until `continue_at`, then hand over to a successor
    CONTINUED = "continued"  # the successor runs the pin now: end SUCCEEDED


class DecisionValue(StrEnum):
    """`$.decision.decision`, read by the `Decision` Choice (from the approval record)."""

    APPROVED = "approved"
    REJECTED = "rejected"
    FORGED = "forged"  # the callback was answered without a decided record: ask again
    CLOSED = "closed"  # the episode ended while the approval was pending


class TrackingAction(StrEnum):
    """`action` of the tracking function's tasks."""

    START = "start"
    NOTICE = "notice"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPROVAL_TIMED_OUT = "approval_timed_out"
    RECORD_FAILURE = "record_failure"
    CONTINUE_AS_NEW = "continue_as_new"


class ApprovalAction(StrEnum):
    """`action` of the approval function's tasks."""

    REQUEST = "request"  # `.waitForTaskToken`: the envelope also carries `task_token`
    VERIFY_DECISION = "verify_decision"


class CanaryAction(StrEnum):
    """`action` of the canary function's tasks."""

    START = "start"
    JUDGE = "judge"
    PROMOTE = "promote"
    VERIFY = "verify"
    RESOLVE = "resolve"
    ROLLBACK = "rollback"
    # Rollback failed after its own retries: count it, plan the wait, tell on-call when stuck.
    ROLLBACK_FAILED = "rollback_failed"


# ------------------------------------------------------------------------------- payloads
class _Payload(BaseModel):
    """Keys the contract does not name are dropped on the way in (so a Catch's `$.timeout`
    or a stale key never rides along) and never emitted."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)


class LadderStep(_Payload):
    """`$.next`: the rung planned next (`policy.StagePlan.to_dict()` plus its timing)."""

    stage: str
    index: int
    round: int
    key: str
    due: str
    audience: str
    channel: str
    requests_approval: bool
    due_at: str  # ISO-8601 UTC with `Z`: the Wait's TimestampPath
    approval_timeout_seconds: int = Field(ge=1)  # the approval task's TimeoutSecondsPath


class TaskFailure(_Payload):
    """What a Catch puts at its ResultPath (`$.failure`, `$.rollback_failure`)."""

    Error: str = ""
    Cause: str = ""


class CatchResults(_Payload):
    """Where the machine's Catches put what they caught (`ResultPath`), next to the `$` the
    failed state received: the catching state reads it (`Rollback` and `RecordFailure` the
    failure; `RecordApprovalTimeout` only that it was a timeout)."""

    failure: TaskFailure | None = None  # a task's error: RecordFailure, Rollback
    rollback_failure: TaskFailure | None = None  # Rollback's own: RollbackBackoff
    timeout: TaskFailure | None = None  # RequestApproval's States.Timeout


class VerifiedDecision(_Payload):
    """`$.decision` after `VerifyDecision`: read from the approval record, never the callback."""

    decision: DecisionValue
    approval_id: str = ""
    approver: str = ""
    reason: str = ""
    accept_untested: bool = False
    decided_at: str = ""


class CallbackAnswer(BaseModel):
    """`$.decision` as the approval callback left it: what the decision API sends. Whoever
    holds the token may send any JSON instead, so handlers never validate it: only
    `VerifyDecision` reads it, as evidence of a forgery."""

    model_config = ConfigDict(extra="allow")

    decision: str | None = None


class WorkflowState(_Payload):
    """The tracking part of `$`: small, so the 256 KiB payload limit is never in sight."""

    pin_id: str
    generation: int
    status: TrackingStatus = TrackingStatus.TRACKING
    next: LadderStep | None = None
    outcome: str = ""
    continue_at: str | None = None  # with status `continue`: the Wait's TimestampPath

    def __init__(
        self,
        pin_id: str,
        generation: int,
        status: TrackingStatus | str = TrackingStatus.TRACKING,
        **data: Any,
    ) -> None:
        # Positional (pin_id, generation, status) as the dataclass this replaced was called.
        BaseModel.__init__(self, pin_id=pin_id, generation=generation, status=status, **data)

    @field_validator("next", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # Executions started before the contract carry `"next": {}` for "nothing planned".
        return None if value == {} else value

    def to_dict(self) -> dict[str, Any]:
        """As JSON, unchecked: also an execution's input (`{pin_id, generation}`, nothing
        planned yet), which `reply` would refuse."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """Only the tracking fields of `data` (a whole `$` is accepted)."""
        return _validated(cls, data, "workflow state")


class ApprovedState(WorkflowState):
    """`RecordApproval`'s reply: the canary reads the decision (e.g. `accept_untested`)."""

    decision: VerifiedDecision


class VerifiedState(WorkflowState):
    """`VerifyDecision`'s reply, read by the `Decision` Choice."""

    decision: VerifiedDecision


class CanaryTaskState(WorkflowState):
    """A canary task's reply: the tracking part, the decision it started from, its state.
    `canary` is absent when the pin was superseded (the `CanaryNext` Choice guards it)."""

    decision: VerifiedDecision | None = None
    canary: CanaryState | None = None
    failure: TaskFailure | None = None
    rollback_retry: RollbackRetry | None = None  # after a failed Rollback: RollbackBackoff


class TaskEnvelope(BaseModel):
    """What `_task` in workflows/remediation.py hands every Lambda task."""

    model_config = ConfigDict(extra="forbid")

    action: str
    state: dict[str, Any]
    execution: str = ""
    started_at: str = ""  # `$$.Execution.StartTime`
    task_token: str | None = None  # RequestApproval only

    @classmethod
    def parse(cls, event: object) -> TaskEnvelope:
        return _validated(cls, event, "task envelope")

    def started(self) -> datetime | None:
        return parse_iso(self.started_at) if self.started_at else None


# --------------------------------------------------------------------------- the machine
# The JSON `$` every (handler, action) replies with — handlers by their module's name in
# `rollforward/handlers/` — the contract tier checks each path the next state reads against
# these models' schemas.
TASK_OUTPUTS: dict[str, dict[str, type[BaseModel]]] = {
    "tracking": {
        **{str(action): WorkflowState for action in TrackingAction},
        str(TrackingAction.APPROVED): ApprovedState,
    },
    "approval_request": {str(ApprovalAction.VERIFY_DECISION): VerifiedState},
    "canary": {str(action): CanaryTaskState for action in CanaryAction},
}
# The result a `.waitForTaskToken` task puts at its ResultPath (the callback's output).
CALLBACK_RESULTS: dict[str, type[BaseModel]] = {"approval_request": CallbackAnswer}
# What a Catch puts at its ResultPath, and what an execution starts with.
CATCH_RESULT: type[BaseModel] = TaskFailure
EXECUTION_INPUT: type[BaseModel] = WorkflowState

_M = TypeVar("_M", bound=BaseModel)


def path(root: type[BaseModel], *names: str) -> str:
    """`$.a.b` for the fields a state reads from a `root`-shaped `$`
    (`path(CanaryTaskState, "canary", "next")`), each checked to be a field of the model (or
    dataclass) it is read from, so a rename is an error at synth time, not a silent Default."""
    current: Any = root
    for name in names:
        declared = _fields_of(current)
        if name not in declared:
            raise KeyError(f"{name!r} is not a field of {getattr(current, '__name__', current)}")
        current = declared[name]
    return "$." + ".".join(names)


def _fields_of(annotation: Any) -> dict[str, Any]:
    """Field name -> annotation of a model or dataclass (through `X | None`)."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return {name: info.annotation for name, info in candidate.model_fields.items()}
        if is_dataclass(candidate):
            return {f.name: f.type for f in fields(candidate)}
    return {}


def reply(model: BaseModel) -> dict[str, Any]:
    """A model as the next `$`: JSON values, enums as their values, unset optionals absent.

    Refuses a tracking state the machine could not route: `tracking` without the planned rung
    (NextStep and the Waits read `$.next`), `continue` without `continue_at`."""
    if isinstance(model, WorkflowState):
        if model.status is TrackingStatus.TRACKING and model.next is None:
            raise ValueError(f"{model.pin_id}: a tracking reply needs the planned rung (next)")
        if model.status is TrackingStatus.CONTINUE and model.continue_at is None:
            raise ValueError(f"{model.pin_id}: a continue reply needs continue_at")
    return model.model_dump(mode="json", exclude_none=True)


def _validated(model: type[_M], data: object, what: str) -> _M:
    try:
        return model.model_validate(data)
    except ValueError as error:
        raise ValueError(f"not a rollforward {what}: {error}") from error


def beyond_horizon(
    state: WorkflowState, started: datetime | None, now: datetime, horizon: timedelta
) -> WorkflowState:
    """`state`, or (if what it plans would end after this execution's horizon) `continue`:
    wait until the earlier of the rung's due time and the horizon, then hand over."""
    if started is None or state.status is not TrackingStatus.TRACKING or state.next is None:
        return state
    due = parse_iso(state.next.due_at)
    latest = due
    if state.next.requests_approval:
        latest += timedelta(seconds=state.next.approval_timeout_seconds)
    horizon_at = started + horizon
    if latest <= horizon_at:
        return state
    handover = max(min(due, horizon_at), started + MIN_EXECUTION_AGE, now)
    return WorkflowState(
        state.pin_id,
        state.generation,
        TrackingStatus.CONTINUE,
        next=state.next,
        outcome=state.outcome,
        continue_at=iso(handover),
    )


__all__ = [
    "CALLBACK_RESULTS",
    "CATCH_RESULT",
    "EXECUTION_HORIZON",
    "EXECUTION_INPUT",
    "EXECUTION_LIMIT",
    "TASK_OUTPUTS",
    "ApprovalAction",
    "ApprovedState",
    "CallbackAnswer",
    "CanaryAction",
    "CanaryNext",
    "CanaryState",
    "CanaryTaskState",
    "CatchResults",
    "DecisionValue",
    "LadderStep",
    "RollbackRetry",
    "TaskEnvelope",
    "TaskFailure",
    "TrackingAction",
    "TrackingStatus",
    "VerifiedDecision",
    "VerifiedState",
    "WorkflowState",
    "beyond_horizon",
    "path",
    "reply",
]
