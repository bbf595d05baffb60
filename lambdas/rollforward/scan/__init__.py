"""The reconciling scan: the safety net under CloudTrail detection.

Events are missed (a rule disabled during an incident, a function created already pinned by
CloudFormation, a pin lifted while detection was down, a function deleted), and executions die
(a bug, a manual StopExecution, a timeout). Each hour the scan makes the ledger agree with what
is live, on a budget: it spends at most `SCAN_RATE_PER_SECOND` of the account's shared 15 req/s
Lambda control-plane bucket (see `rollforward.ratelimit`), so the user's own deploys keep the
rest.

Phases of `Scanner.scan()`:

1. **Listing.** `list_functions` pages ListFunctions (50 per page). For each function,
   `Scanner.reconcile_function` reads the qualifiers that matter — `$LATEST` and the published
   versions its aliases route to (main version and `AdditionalVersionWeights`), found with
   ListAliases — with one GetRuntimeManagementConfig each, and hands each setting to
   `Tracker.observe(..., setting=...)`, which opens, closes (lifted) or leaves the pin without
   reading it again. Image functions are skipped: Lambda manages no runtime for them. Cost:
   about 2 shared-bucket calls per function (ListAliases + GetRuntimeManagementConfig) plus
   one per alias-routed version, one ListTags per newly opened pin and 1/50 ListFunctions.
2. **Orphans.** Open pins the listing did not cover (the function or version was deleted, or an
   alias moved off a pinned version) are read once each; a `ResourceNotFoundException` makes
   `observe` close the pin as deleted. Runs only when the listing reached its end.
3. **Executions.** Every open pin must have a live tracking execution. The running ones are
   listed with ListExecutions(RUNNING) (one call per 1,000, not one per pin); the others are
   described. FAILED / TIMED_OUT / ABORTED or missing → tracking is restarted. SUCCEEDED with
   the pin still open (escalation exhausted, or approved and waiting for the canary hand-off)
   and pins in APPROVED / CANARY are reported as *stalled* and left alone: restarting would
   send the ladder round again or interrupt a canary, which is a human's call.

A pin in stage FAILED (its execution recorded a failure; the ledger says "tracking resumes on
the next scan") that is still pinned live is *resumed*: put back to TRACKING on the same
generation, so first-seen and the notices already sent are kept, and phase 3 restarts its
execution. `observe` alone would open a new generation and restart the ladder from day 0.

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
  `reconcile_function(function)` depends only on that one item, the clients and the ledger
  (not on other functions), returning a `FunctionResult`. A Distributed Map over ListFunctions
  pages (an ItemReader or a listing task) can run `reconcile_function` per item in child
  executions — all children sharing one rate budget, e.g. `MaxConcurrency` x per-child rate <=
  budget — and fold the results with `ScanReport.add_function`; phases 2 and 3 run once after.
- **Multi-account.** Buckets are per account and region, so build one `Scanner` per
  (account, region) with clients from an assumed role and its own `TokenBucket`; nothing in
  this module assumes the account it runs in.
- **Longer than one invocation.** `time_budget_seconds` stops between functions and reports
  `complete=False` with `resume_marker` (the ListFunctions marker of the first function not
  done); `scan(start_marker=...)` continues there. At 3 req/s one 15-minute invocation covers
  about 1,300 functions.
"""

from __future__ import annotations

from rollforward.scan.listing import ListedFunction, alias_versions, list_functions
from rollforward.scan.reconcile import ACTOR, QualifierOutcome, next_attempt, predict, restart_name
from rollforward.scan.report import FunctionResult, ScanReport
from rollforward.scan.scanner import Scanner

__all__ = [
    "ACTOR",
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
