"""The reconciling scan: the safety net under CloudTrail detection.

Events are missed (a rule disabled during an incident, a function created already pinned by
CloudFormation, a pin lifted while detection was down, a function deleted), and executions die
(a bug, a manual StopExecution, a timeout). Each hour the scan makes the ledger agree with what
is live, on a budget: it spends at most `SCAN_RATE_PER_SECOND` of the account's shared 15 req/s
Lambda control-plane bucket (see `rollforward.ratelimit`), so the user's own deploys keep the
rest.

Phases of `Scanner.scan()`:

1. **Listing.** `list_functions` pages ListFunctions with `FunctionVersion=ALL` (50 items per
   page: functions and their published versions). Every `$LATEST` and published version is
   read with GetFunction (its own bucket) for the runtime version it runs, and
   `screening.plan_reading` says which qualifiers deserve a GetRuntimeManagementConfig: on a
   full pass every `$LATEST`; what the ledger holds; and a published version only when it is
   not on its group's current runtime version and an alias routes traffic to it (one
   ListAliases, spent only on functions with such a version). Each setting read goes to
   `Tracker.observe(..., setting=...)`, which opens, closes (lifted) or leaves the pin without
   reading it again. Image functions are skipped: Lambda manages no runtime for them. Cost of a
   full pass: about 1 shared-bucket call per function plus (F + V) / 50 for the listing, one
   ListTags per newly opened pin, and the outlier versions (`rollforward.scan.screening`; what
   it cannot miss, and what it can until a newer version is in sight, is written there). A
   screening cycle (`full=False`) reads `$LATEST` too only when it is an outlier.
2. **Orphans.** Pins the listing did not cover (the function or version was deleted, or an
   alias moved off a pinned version) — open ones, failed ones and any with a canary in flight
   — are read once each; a function or version that no longer exists closes its pin as
   deleted. Runs only when the listing reached its end.
3. **Executions.** Every open pin must have a live tracking execution. The running ones are
   listed with ListExecutions(RUNNING) (one call per 1,000, not one per pin); the others are
   described. FAILED / TIMED_OUT / ABORTED or missing → tracking is restarted. SUCCEEDED with
   the pin still open (escalation exhausted, or approved and waiting for the canary hand-off)
   and pins in APPROVED are reported as *stalled* and left alone: restarting would send the
   ladder round again, which is a human's call.

**Failed pins are re-examined, never skipped.** A pin in stage FAILED (its execution recorded a
failure; the ledger says "tracking resumes on the next scan") that is still pinned live is
*resumed*: put back to TRACKING on the same generation, so first-seen and the notices already
sent are kept, and phase 3 starts a new execution for it. `observe` alone would open a new
generation and restart the ladder from day 0. A failed pin no longer pinned closes as lifted, one
whose function is gone as deleted.

**Dead canaries are restored.** The canary records what it is about to change in the ledger
(`observation.CANARY_IN_FLIGHT`) before it changes anything, and settles the record when it
promotes or rolls back. A pin that still carries the record while its execution is no longer
running (stopped, failed, timed out; or the pin `failed`) has a canary nobody will finish: the
alias may be weighted, `$LATEST` in FunctionUpdate, the baseline version pinned by the canary.
The scan restores it through the `CanaryRepair` port — the canary's own `rollback`, from the
recorded state, never a copy of it (wired in `handlers/scan.py`) — audits `canary_restored`,
reads the settings again and carries on: the pin is back on the ladder and phase 3 restarts its
tracking. A canary whose execution is running is left to it. A restore that fails (throttled) is
an error of that function; the next scan tries again.

**Rollforward's own pins are not pins.** The canary pins the alias's baseline version Manual on
the original runtime version itself (so phase 2 of an Auto rollout cannot move it mid-canary),
after recording that version's earlier setting in the in-flight record. While the record is
there, that version's Manual setting is rollforward's own (`observation.pinned_by_canary`):
neither the scan nor detection opens a pin on it, whatever became of the `$LATEST` pin — the
restore puts it back. A version that was already Manual before the canary is a human's pin and
stays one. The versions the canary publishes carry the descriptions `rollforward baseline` and
`rollforward candidate: ...` (for a human reading the console; the scan needs no extra read).

Restart naming. Tracking executions are named `Pin.execution_name` (`pin-<fn>-<hash>-g<gen>`):
Step Functions returns the running execution for a repeated (name, input), which is what makes
detection idempotent — and refuses a name whose execution has ended (names are reserved for
90 days after they close). So a restart starts `<name>-r<n>`, n = 1 + the suffix of the dead
execution's name, keeping the generation: the ledger's generation counts pin *episodes*, and the
restarted execution carries the same `{pin_id, generation}` input, so `Tracker.load` accepts it
and everything keyed on the generation (notice dedup, approvals) carries on. Two scans racing to
restart the same pin compute the same name and input, and Step Functions gives both the same
execution. If a name turns out taken by an execution that is running, that one is adopted; if
taken by an ended one, the next suffix is tried.

`dry_run=True` reads only (Lambda, the ledger, Step Functions) and reports what it would do;
it writes no audit record.

Extension points (why the work is split the way it is):
- **Distributed Map.** `list_functions` is a plain generator of `ListedFunction` and
  `reconcile_function(function, reading)` depends only on that one item, its `Reading`, the
  ports and the ledger (not on other functions), returning a `FunctionResult`; the screen a
  reading needs is a few ARNs per (runtime, architecture). A Distributed Map over (account,
  region) can run a page at a time per child — each child owning its (account, region)'s rate
  budget — and fold the results with `ScanReport.add_function`; phases 2 and 3 run once after.
- **Multi-account.** Buckets are per account and region, so build one `Scanner` per
  (account, region) with adapters over clients from an assumed role and its own
  `TokenBucket`; nothing in this package assumes the account it runs in.
- **Longer than one invocation.** `time_budget_seconds` stops between functions and reports
  `complete=False` with `resume_marker` (the ListFunctions marker of the first function not
  done); `scan(start_marker=...)` continues there. At 3 req/s one 15-minute invocation covers
  about 1,300 functions.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rollforward.scan.listing import ListedFunction, alias_versions, list_functions
    from rollforward.scan.reconcile import (
        ACTOR,
        QualifierOutcome,
        next_attempt,
        predict,
        restart_name,
    )
    from rollforward.scan.report import FunctionResult, ScanReport
    from rollforward.scan.scanner import CanaryRepair, Scanner

# Resolved on first use, so that importing one module of the package (the adapters import
# `scan.listing`'s types) does not import the scanner and everything it needs.
_WHERE = {
    "ListedFunction": "listing",
    "alias_versions": "listing",
    "list_functions": "listing",
    "ACTOR": "reconcile",
    "QualifierOutcome": "reconcile",
    "next_attempt": "reconcile",
    "predict": "reconcile",
    "restart_name": "reconcile",
    "FunctionResult": "report",
    "ScanReport": "report",
    "CanaryRepair": "scanner",
    "Scanner": "scanner",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = [
    "ACTOR",
    "CanaryRepair",
    "FunctionResult",
    "ListedFunction",
    "QualifierOutcome",
    "ScanReport",
    "Scanner",
    "alias_versions",
    "list_functions",
    "next_attempt",
    "predict",
    "restart_name",
]
