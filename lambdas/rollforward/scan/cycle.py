"""One scan cycle over every (account, region): what the scan's machine carries (workflows/scan.py).

The machine (`Scan`, a Standard state machine started hourly) is:

    Plan ─► Targets (Distributed Map, one child per (account, region)) ─► Report
              child: ScanTarget ─► More? ─ not complete ─► ScanTarget (from its marker)
                          │           └─ complete ─► Recorded ─► Done
                          └─ failed for good (Catch) ─► RecordTargetFailure ─► TargetFailed

Each child records its target's outcome in the ledger's table (`TargetRecords`, one item per
target, overwritten each cycle) and ends with a constant-size output: the Map keeps none of its
children's results, so a cycle of thousands of targets stays under Step Functions' 256 KiB
payload quota (children's outputs gathered into the Map's result failed a cycle with
States.DataLimitExceeded at about 600 targets). `Report` reads the records of its plan's targets.

`Plan` names the cycle (the hour, full or screening: `screening.is_full_cycle`) and its targets;
each child scans one (account, region) with that target's own budget — the shared 15 req/s
bucket is per account and region, so children never share one — in as many invocations as it
needs, each continuing at the ListFunctions marker the last one stopped at (phases 2 and 3 run
in the invocation that finishes the listing), so every phase is reached in every cycle however
large the account; `Report` folds the children's results into the cycle's coverage (EMF metrics,
the audit trail, `rollforward scan --status`). One scanner per bucket: a cycle that starts while
an earlier one still runs (a target larger than an hour of its budget) scans nothing and says so
(`earlier_cycle`); the earlier one goes on to finish every phase of every target.

These models are that machine's contract: `TASK_OUTPUTS`, `MAP_ITEMS` and `MAP_RESULTS` are what
`tests/workflow/asl_contract.py` walks the synthesized definition against. Pure: no AWS library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from pydantic import BaseModel, ConfigDict, Field

from rollforward.ports import OrganizationAccounts, Refused


class ScanAction(StrEnum):
    PLAN = "plan"
    TARGET = "target"
    TARGET_FAILED = "target_failed"  # record a child's failure for good, then end it
    REPORT = "report"


class ScanTarget(BaseModel):
    """One (account, region): one Distributed Map child, one shared bucket."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")


class ScanCycle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # the cycle's hour, e.g. 2026-12-02T04:00:00Z
    full: bool  # a full reconciliation (else a screening cycle)


class ScanPlan(BaseModel):
    """`Plan`'s reply: the machine's `$` until `Report`. `still_running`: an earlier cycle
    still scanning (its ARN) — this one then scans nothing (`earlier_cycle`)."""

    cycle: ScanCycle
    targets: list[ScanTarget]
    still_running: str = ""
    # The Organization could not be listed (why, and what to do): only the hub's own account
    # is targeted this cycle.
    organization_unreadable: str = ""


class TargetProgress(BaseModel):
    """A child's `$`: its target, where its listing stands, and what it has done so far."""

    cycle: ScanCycle
    target: ScanTarget
    # The cycle's execution (`$$.Execution.Id` of the machine): whose cycle a record is.
    cycle_execution: str = ""
    complete: bool = False
    marker: str | None = None  # the ListFunctions marker to continue from
    resume_after: str | None = None  # on the marker's page, the last function done (ARN)
    invocations: int = 0
    functions_seen: int = 0
    control_plane_calls: int = 0
    getfunction_calls: int = 0
    throttled: int = 0
    opened: int = 0
    closed: int = 0
    restarted: int = 0
    restored: int = 0
    errors: int = 0
    seconds: float = 0.0
    # The ledger's pins this cycle's earlier invocations read (`reconcile.covered_digest`),
    # until the target is complete: the invocation that finishes the listing does not read them
    # again in its orphan phase. Emptied when complete (the Map's results stay small).
    covered: list[str] = Field(default_factory=list)

    def after(self, summary: dict[str, Any], covered: Iterable[str] = ()) -> TargetProgress:
        """This progress after one more invocation whose report summary is `summary` and
        whose listing read the pins `covered` (its report's `covered_pins`)."""
        counts = summary.get("counts", {})
        complete = bool(summary.get("complete"))
        return self.model_copy(
            update={
                "complete": complete,
                "covered": [] if complete else sorted({*self.covered, *covered}),
                "marker": summary.get("resume_marker"),
                "resume_after": summary.get("resume_after"),
                "invocations": self.invocations + 1,
                "functions_seen": self.functions_seen + int(summary.get("functions_seen", 0)),
                "control_plane_calls": self.control_plane_calls
                + int(summary.get("control_plane_calls", 0)),
                "getfunction_calls": self.getfunction_calls
                + int(summary.get("getfunction_calls", 0)),
                "throttled": self.throttled + int(summary.get("throttled", 0)),
                "opened": self.opened + int(counts.get("opened", 0)),
                "closed": self.closed + int(counts.get("closed", 0)),
                "restarted": self.restarted + int(counts.get("restarted", 0)),
                "restored": self.restored + int(counts.get("restored", 0)),
                "errors": self.errors + int(counts.get("errors", 0)),
                "seconds": round(self.seconds + float(summary.get("duration_seconds", 0.0)), 3),
            }
        )


class ChildFailure(BaseModel):
    Error: str = ""
    Cause: str = ""


class TargetOutcome(TargetProgress):
    """What a child ends with: its progress, and the error if it failed for good."""

    failure: ChildFailure | None = None


class TargetRecorded(BaseModel):
    """A child's output: constant-size whatever its target did (its outcome is recorded)."""

    recorded: bool = True


class TargetRecords(Protocol):
    """Where children record their targets' outcomes and `Report` reads them (one record per
    target, the latest cycle's)."""

    def record(self, outcome: TargetOutcome) -> None:
        """Write `outcome` as its target's record (replacing an earlier cycle's)."""
        ...

    def read(self, targets: list[ScanTarget]) -> dict[str, TargetOutcome]:
        """The records of `targets` that exist, by `target_name`."""
        ...


def target_name(target: ScanTarget) -> str:
    return f"{target.account}/{target.region}"


NO_OUTCOME: Final = "NoOutcomeRecorded"


def cycle_outcomes(
    plan: ScanPlan, execution: str, recorded: Mapping[str, TargetOutcome]
) -> list[TargetOutcome]:
    """Every planned target's outcome in this cycle (`execution`): its record when this cycle
    wrote it, else a failure saying none was — a child that ended without recording (its
    record is an earlier cycle's, or missing) must never count as scanned."""
    outcomes = []
    for target in plan.targets:
        outcome = recorded.get(target_name(target))
        if outcome is None or outcome.cycle_execution != execution:
            outcome = TargetOutcome(
                cycle=plan.cycle,
                target=target,
                cycle_execution=execution,
                failure=ChildFailure(
                    Error=NO_OUTCOME,
                    Cause="the target's child ended without recording an outcome this cycle",
                ),
            )
        outcomes.append(outcome)
    return outcomes


class ScanResults(ScanPlan):
    """What `Report` folds: the plan and every target's outcome (`cycle_outcomes`)."""

    results: list[TargetOutcome]


class TargetLine(BaseModel):
    """One (account, region) in the cycle's report: a line of `rollforward scan --status`."""

    target: str  # "account/region"
    complete: bool
    functions_seen: int
    control_plane_calls: int
    invocations: int
    seconds: float
    error: str = ""

    @classmethod
    def of(cls, outcome: TargetOutcome) -> TargetLine:
        failure = outcome.failure
        return cls(
            target=target_name(outcome.target),
            complete=outcome.complete and failure is None,
            functions_seen=outcome.functions_seen,
            control_plane_calls=outcome.control_plane_calls,
            invocations=outcome.invocations,
            seconds=outcome.seconds,
            error=f"{failure.Error}: {failure.Cause[:200]}" if failure is not None else "",
        )


# What the cycle's report lists (the execution's output, within Step Functions' 256 KiB
# quota whatever the number of targets): target lines, the failed and incomplete first, and
# failed targets by name; the counts are whole, and the records hold every target.
MAX_TARGET_LINES: Final = 500
MAX_FAILED_NAMED: Final = 100


class CycleReport(BaseModel):
    """`Report`'s reply (the execution's output): the cycle's coverage."""

    cycle: ScanCycle
    targets: int
    targets_complete: int
    targets_failed: list[str]  # "account/region: error", the first `MAX_FAILED_NAMED`
    targets_failed_total: int = 0
    functions_seen: int
    control_plane_calls: int
    getfunction_calls: int
    throttled: int
    opened: int
    closed: int
    restarted: int
    restored: int
    invocations: int
    seconds: float  # the longest child's scan time (the cycle's length, children run at once)
    still_running: str = ""  # skipped: this earlier cycle was still scanning (its ARN)
    organization_unreadable: str = ""  # the member accounts were not listed: why, what to do
    per_target: list[TargetLine] = Field(default_factory=list)
    per_target_omitted: int = 0  # lines beyond `MAX_TARGET_LINES` (the complete go last)

    @property
    def coverage(self) -> float:
        """Targets whose every phase ran this cycle, as a fraction of all targets."""
        return self.targets_complete / self.targets if self.targets else 1.0

    @classmethod
    def of(cls, results: ScanResults) -> CycleReport:
        done = [r for r in results.results if r.failure is None]

        def total(name: str) -> int:
            return sum(int(getattr(r, name)) for r in results.results)

        failed = [
            f"{target_name(r.target)}: {r.failure.Error}"
            for r in results.results
            if r.failure is not None
        ]
        lines = sorted(
            (TargetLine.of(r) for r in results.results),
            key=lambda line: (line.complete, not line.error),  # failed, incomplete, complete
        )

        return cls(
            cycle=results.cycle,
            targets=len(results.targets),
            targets_complete=sum(1 for r in done if r.complete),
            targets_failed=failed[:MAX_FAILED_NAMED],
            targets_failed_total=len(failed),
            functions_seen=total("functions_seen"),
            control_plane_calls=total("control_plane_calls"),
            getfunction_calls=total("getfunction_calls"),
            throttled=total("throttled"),
            opened=total("opened"),
            closed=total("closed"),
            restarted=total("restarted"),
            restored=total("restored"),
            invocations=total("invocations"),
            seconds=max((r.seconds for r in results.results), default=0.0),
            still_running=results.still_running,
            organization_unreadable=results.organization_unreadable,
            per_target=lines[:MAX_TARGET_LINES],
            per_target_omitted=max(0, len(lines) - MAX_TARGET_LINES),
        )


def earlier_cycle(own_arn: str, own_start: datetime | None, running: Mapping[str, datetime]) -> str:
    """The running cycle this one must leave the targets to ("" if none): a cycle that has not
    finished when the next hour's starts (a target larger than an hour's budget) is still
    spending every target's budget — a second child per (account, region) would double the
    rate on its bucket. The earlier start wins; a tie goes to the lower ARN, so of two cycles
    started at once exactly one scans."""
    mine = (own_start, own_arn) if own_start is not None else None
    earlier = sorted(
        (started, arn)
        for arn, started in running.items()
        if arn != own_arn and (mine is None or (started, arn) < mine)
    )
    return earlier[0][1] if earlier else ""


def machine_of(execution_arn: str) -> str:
    """The state machine of an execution ARN (`...:execution:<machine>:<name>`); "" if it is
    not one (the handler invoked outside its machine)."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] != "execution":
        return ""
    return ":".join([*parts[:5], "stateMachine", parts[6]])


def parse_targets(text: str, home: tuple[str, str]) -> list[ScanTarget]:
    """`SCAN_TARGETS` ("111111111111/eu-west-1,222222222222/us-east-1"); empty: the hub's own
    (account, region) — a single-account install. A malformed entry is an error (the
    deployment is wrong), never silently skipped."""
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not entries:
        return [ScanTarget(account=home[0], region=home[1])]
    targets = []
    for entry in entries:
        account, _, region = entry.partition("/")
        targets.append(ScanTarget(account=account, region=region))
    return list({(t.account, t.region): t for t in targets}.values())


def organization_targets(
    home: tuple[str, str], accounts: list[str], regions: list[str]
) -> list[ScanTarget]:
    """A hub's targets: its own (account, region) first (the hub is its own member), then every
    account of the organization the member StackSet reaches in every member region (the hub's
    own account in the other regions too: it acts there with its own credentials)."""
    pairs = [home, *((account, region) for account in [home[0], *accounts] for region in regions)]
    return [ScanTarget(account=a, region=r) for a, r in dict.fromkeys(pairs)]


# The service principal a hub outside the management account is delegated for: the member
# StackSet is service-managed, so the hub deploys it as a StackSets delegated administrator.
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"


def organization_unreadable(reason: str, hub_account: str) -> str:
    """What a cycle says when the Organization refused the hub's listing: the refusal, what
    the cycle scans instead, and the ways to give the hub its member accounts."""
    return (
        f"the Organization's accounts could not be listed ({reason[:300]}); this cycle scans "
        f"only the hub's own account {hub_account}. Deploy the hub in the management account, "
        f"register {hub_account} as a delegated administrator (aws organizations "
        f"register-delegated-administrator --account-id {hub_account} --service-principal "
        f"{STACKSETS_PRINCIPAL}), or list the targets in SCAN_TARGETS"
    )


def hub_targets(
    home: tuple[str, str],
    organization: OrganizationAccounts,
    ous: list[str],
    regions: list[str],
) -> tuple[list[ScanTarget], str]:
    """A hub's targets this cycle and, if the Organization refused the listing, what to say
    ("" otherwise): then the hub's own account in every member region is still scanned — one
    missing delegation must not cost the hub its own pins, nor fail every cycle silently."""
    try:
        accounts = organization.accounts_under(ous)
    except Refused as refusal:
        return organization_targets(home, [], regions), organization_unreadable(
            str(refusal), home[0]
        )
    return organization_targets(home, accounts, regions), ""


class ScheduleInput(BaseModel):
    """What the machine starts with: nothing (`{}`) from the hourly schedule; from
    `rollforward scan`, who asked and, with `--full|--screen`, a full pass or a screening cycle
    whatever the hour."""

    model_config = ConfigDict(extra="forbid")

    full: bool | None = None
    requested_by: str = ""  # the caller's ARN (`rollforward scan`); "" from the schedule


# The contract tier's view of the scan machine (tests/workflow/asl_contract.py).
EXECUTION_INPUT: type[BaseModel] = ScheduleInput
TASK_OUTPUTS: dict[str, dict[str, type[BaseModel]]] = {
    "scan": {
        str(ScanAction.PLAN): ScanPlan,
        str(ScanAction.TARGET): TargetProgress,
        str(ScanAction.TARGET_FAILED): TargetRecorded,
        str(ScanAction.REPORT): CycleReport,
    }
}
CALLBACK_RESULTS: dict[str, type[BaseModel]] = {}
CATCH_RESULT: type[BaseModel] = ChildFailure
MAP_ITEMS: dict[str, type[BaseModel]] = {"Targets": TargetProgress}  # a child's input
MAP_RESULTS: dict[str, type[BaseModel]] = {"Targets": TargetRecorded}  # each child's output

__all__ = [
    "CALLBACK_RESULTS",
    "CATCH_RESULT",
    "EXECUTION_INPUT",
    "MAP_ITEMS",
    "MAP_RESULTS",
    "MAX_FAILED_NAMED",
    "MAX_TARGET_LINES",
    "NO_OUTCOME",
    "STACKSETS_PRINCIPAL",
    "TASK_OUTPUTS",
    "ChildFailure",
    "CycleReport",
    "ScanAction",
    "ScanCycle",
    "ScanPlan",
    "ScanResults",
    "ScanTarget",
    "ScheduleInput",
    "TargetLine",
    "TargetOutcome",
    "TargetProgress",
    "TargetRecorded",
    "TargetRecords",
    "cycle_outcomes",
    "earlier_cycle",
    "hub_targets",
    "machine_of",
    "organization_targets",
    "organization_unreadable",
    "parse_targets",
    "target_name",
]
