"""What a scan did: one function's result (the unit a Distributed Map child would return) and
the whole report, with the capped summary that goes to the audit trail, the Lambda result and
`rollforward scan` (the CLI prints the summary as given; this is its one formatter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rollforward.ratelimit import CallCounts
from rollforward.scan.reconcile import QualifierOutcome

SUMMARY_LIST_LIMIT = 50  # pin ids per list in the audit record (a log event is ≤ 256 KiB)


@dataclass
class FunctionResult:
    """One function's reconcile: the unit a Distributed Map child would return."""

    function_arn: str
    name: str
    qualifiers: list[str] = field(default_factory=list)
    outcomes: list[QualifierOutcome] = field(default_factory=list)
    calls: CallCounts = field(default_factory=CallCounts)
    skipped: str = ""  # why nothing was read (image function)
    screened: str = ""  # why only GetFunction was read (a screening cycle)
    error: str = ""


@dataclass
class ScanReport:
    dry_run: bool
    started_at: str
    rate_budget_per_second: float
    duration_seconds: float = 0.0
    complete: bool = False
    # When the listing stopped early: the ListFunctions marker to continue from ("" = the
    # first page). None when the listing finished.
    resume_marker: str | None = None
    # With `resume_marker`: the function (ARN) of that page after which to continue (the ones
    # before it are done); None: the whole page again.
    resume_after: str | None = None
    functions_seen: int = 0
    functions_skipped: int = 0
    full: bool = True  # a full reconciliation (False: a screening cycle)
    functions_screened: int = 0  # screening: GetFunction only, no shared-bucket call
    # screening: the current runtime version ARN per "runtime/architecture"
    current_runtime_versions: dict[str, str] = field(default_factory=dict)
    getfunction_calls: dict[str, int] = field(default_factory=dict)  # its own 100 req/s bucket
    qualifiers_checked: int = 0
    pinned_qualifiers: int = 0  # qualifiers found in Manual
    opened: list[str] = field(default_factory=list)
    closed: dict[str, str] = field(default_factory=dict)  # pin id -> lifted | deleted
    repinned: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # dead canaries rolled back
    opted_out: list[str] = field(default_factory=list)  # pinned, the function opted out
    restarted: dict[str, str] = field(default_factory=dict)  # pin id -> new execution ARN
    stalled: dict[str, str] = field(default_factory=dict)  # pin id -> why not restarted
    errors: dict[str, str] = field(default_factory=dict)  # function or pin -> error
    calls_by_operation: dict[str, int] = field(default_factory=dict)  # shared-bucket attempts
    throttled_by_operation: dict[str, int] = field(default_factory=dict)  # 429s received
    calls_by_function: dict[str, int] = field(default_factory=dict)
    stepfunctions_calls: dict[str, int] = field(default_factory=dict)
    paced_seconds: float = 0.0  # time spent waiting for the rate budget
    # The ledger's pins this invocation's listing reached (`reconcile.covered_digest`): a scan
    # resumed at `resume_marker` is handed them back, so that its orphan phase does not read
    # again what an earlier invocation of the same cycle read. Not in the summary.
    covered_pins: list[str] = field(default_factory=list)

    @property
    def control_plane_calls(self) -> int:
        return sum(self.calls_by_operation.values())

    @property
    def throttled(self) -> int:
        return sum(self.throttled_by_operation.values())

    @property
    def achieved_rate_per_second(self) -> float:
        return self.control_plane_calls / self.duration_seconds if self.duration_seconds else 0.0

    def add_function(self, result: FunctionResult, *, again: bool = False) -> None:
        """Fold one function's result in (also how Distributed Map results are merged).
        `again`: a second read of a function already counted (its outlier versions)."""
        if not again:
            self.functions_seen += 1
            if result.skipped:
                self.functions_skipped += 1
            if result.screened:
                self.functions_screened += 1
        if result.error:
            self.errors[result.function_arn] = result.error
        self.qualifiers_checked += len(result.qualifiers)
        self.calls_by_function[result.name] = (
            self.calls_by_function.get(result.name, 0) if again else 0
        ) + result.calls.total_calls
        for outcome in result.outcomes:
            self.add_outcome(outcome)

    def add_outcome(self, outcome: QualifierOutcome) -> None:
        if outcome.action in {"opened", "repinned", "resumed", "restored", "already_open"}:
            self.pinned_qualifiers += 1
        if outcome.action == "opened":
            self.opened.append(outcome.pin_id)
        elif outcome.action == "closed":
            self.closed[outcome.pin_id] = outcome.stage
        elif outcome.action == "repinned":
            self.repinned.append(outcome.pin_id)
        elif outcome.action == "resumed":
            self.resumed.append(outcome.pin_id)
        elif outcome.action == "restored":
            self.restored.append(outcome.pin_id)
        elif outcome.action == "opted_out":
            self.opted_out.append(outcome.pin_id)

    def to_dict(self) -> dict[str, Any]:
        """Everything, per function included (large for a large fleet)."""
        return {**self.summary(limit=None), "calls_by_function": dict(self.calls_by_function)}

    def summary(self, limit: int | None = SUMMARY_LIST_LIMIT) -> dict[str, Any]:
        """Counts and (capped) pin ids: small enough for an audit record or a Lambda result."""

        def cap(items: list[str]) -> list[str]:
            return sorted(items)[:limit] if limit is not None else sorted(items)

        def cap_map(items: dict[str, str]) -> dict[str, str]:
            return {k: items[k] for k in cap(list(items))}

        per_function = list(self.calls_by_function.values())
        return {
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "duration_seconds": round(self.duration_seconds, 3),
            "complete": self.complete,
            "resume_marker": self.resume_marker,
            "resume_after": self.resume_after,
            "functions_seen": self.functions_seen,
            "functions_skipped": self.functions_skipped,
            "full": self.full,
            "functions_screened": self.functions_screened,
            "current_runtime_versions": dict(self.current_runtime_versions),
            "qualifiers_checked": self.qualifiers_checked,
            "pinned_qualifiers": self.pinned_qualifiers,
            "counts": {
                "opened": len(self.opened),
                "closed": len(self.closed),
                "repinned": len(self.repinned),
                "resumed": len(self.resumed),
                "restored": len(self.restored),
                "opted_out": len(self.opted_out),
                "restarted": len(self.restarted),
                "stalled": len(self.stalled),
                "errors": len(self.errors),
            },
            "opened": cap(self.opened),
            "closed": cap_map(self.closed),
            "repinned": cap(self.repinned),
            "resumed": cap(self.resumed),
            "restored": cap(self.restored),
            "opted_out": cap(self.opted_out),
            "restarted": cap_map(self.restarted),
            "stalled": cap_map(self.stalled),
            "errors": cap_map(self.errors),
            "control_plane_calls": self.control_plane_calls,
            "calls_by_operation": dict(sorted(self.calls_by_operation.items())),
            "throttled": self.throttled,
            "throttled_by_operation": dict(sorted(self.throttled_by_operation.items())),
            "calls_per_function": {
                "max": max(per_function, default=0),
                "mean": round(sum(per_function) / len(per_function), 3) if per_function else 0,
            },
            "stepfunctions_calls": dict(sorted(self.stepfunctions_calls.items())),
            "getfunction_calls": sum(self.getfunction_calls.values()),
            "rate_budget_per_second": self.rate_budget_per_second,
            "achieved_rate_per_second": round(self.achieved_rate_per_second, 3),
            "paced_seconds": round(self.paced_seconds, 3),
        }
