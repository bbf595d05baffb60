"""The reconciling scan over several accounts and regions, within the API budget.

Run: `.venv/bin/python -m bench.scan` (the issue's run: 3 accounts x 2 regions x 5,000
functions, 10 % pinned, 20 % behind an alias, a budget of 3 req/s of each (account, region)'s
shared bucket); `--accounts 1 --regions 1 --functions 1000` for a quick one; `--embedded ...`
runs the single-account bench on the embedded AWS instead (`bench.scan_embedded`, real seconds).

How it runs. Each (account, region) is a Distributed Map child of the scan's machine
(`workflows/scan.py`): one `Scanner` on that target's clients and its own budget — the buckets
are per account and region, so children do not share one — run as the child runs it:
invocations of 870 s of work (a 15-minute Lambda less its margin), each continuing at the last
one's ListFunctions marker with the pins already read (`TargetProgress`), until complete. Here the children run one after the
other on one `bench.fleet.CompressedClock` (buckets refill on it; every call costs 30 ms of it,
AWS's round trip), which is what running them side by side on AWS gives, since no two share a
bucket: the cycle's length on AWS is the longest child. The fleet is `bench.fleet` (AWS's
buckets and 429s, answered behind real boto3 clients: the embedded AWS needs 10-50 ms per call
here, too slow for 30,000 functions); the ledger is DynamoDB on the embedded AWS. The owner's
deploys draw `--user-rate` req/s from each shared bucket meanwhile (no retries: a deploy tool
that meets a 429 fails or slows).

Variants, each on every target, in this order:
- today: the scan before this change, as the hourly Lambda ran it: one 15-minute invocation
  (870 s of work), ListAliases + GetRuntimeManagementConfig per qualifier, no resume — so the
  fraction of the fleet it reaches per cycle is its coverage;
- naive: a boto3 loop (ListFunctions, then GetRuntimeManagementConfig per function, flat out,
  botocore's standard retries with their back-off on the same clock);
- first: the new scan's first full pass (opens every pin: ListTags each);
- full: a full reconciliation with the pins known (steady fleet);
- screen: a screening cycle on the steady fleet (`rollforward.scan.screening`);
- released: AWS releases a runtime version (Auto qualifiers move to it), then a screening cycle:
  every pin is now two versions behind, and every one must still be read.

Printed per variant: shared-bucket calls per function (attempts), the fraction of the budget it
used over its run, 429s it received and the owner's 429s meanwhile, GetFunction calls, the
AWS time it takes (the longest target: one cycle), coverage (functions reached / fleet per
cycle) and the most Lambda invocations one target's cycle took.
Exit status 0 either way: this is a measurement.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import botocore.endpoint
from botocore.config import Config
from botocore.exceptions import ClientError
from rollforward.adapters.lambda_control import AwsLambdaControl
from rollforward.audit.records import AuditEvent, AuditRecord, new_record
from rollforward.clock import utc_now
from rollforward.escalation.tracking import Tracker
from rollforward.handlers.wiring import RETRY_CONFIG
from rollforward.policy.models import Policy
from rollforward.ports import ExecutionInfo
from rollforward.ratelimit import CallCounter, TokenBucket, paced, pacing
from rollforward.scan import Scanner, list_functions
from rollforward.scan.cycle import ScanCycle, ScanTarget, TargetProgress

from bench.fleet import CompressedClock, Fleet, MemoryLedger, Target, build

ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444")
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
INVOCATION_SECONDS = 870.0  # a 15-minute Lambda, less the handler's 30 s margin
STANDARD_RETRIES = Config(retries={"mode": "standard"})
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


class RecordedExecutions:
    """`ports.Executions` that records starts (the remediation machine is not the measurement:
    each started execution just stays RUNNING)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.state_machine_arn = prefix.replace(":execution:", ":stateMachine:")
        self.started: dict[str, str] = {}

    def start(self, name: str, input: Mapping[str, Any]) -> str:
        arn = f"{self.prefix}:{name}"
        self.started.setdefault(arn, "RUNNING")
        return arn

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        self.started[execution_arn] = "ABORTED"

    def describe(self, execution_arn: str) -> ExecutionInfo | None:
        status = self.started.get(execution_arn)
        return None if status is None else ExecutionInfo(execution_arn, status)

    def running(self) -> set[str]:
        return {arn for arn, status in self.started.items() if status == "RUNNING"}

    def send_task_success(self, task_token: str, output: Mapping[str, Any]) -> bool:
        return False


class CountedAudit:
    """`ports.AuditSink` in memory: the bench counts records, it does not read them."""

    def __init__(self) -> None:
        self.records = 0

    def record(
        self,
        event: AuditEvent | str,
        *,
        pin_id: str | None = None,
        actor: str = "rollforward",
        at: datetime | None = None,
        **details: Any,
    ) -> AuditRecord:
        self.records += 1
        return new_record(event, pin_id=pin_id, actor=actor, at=at or utc_now(), details=details)

    def read(self, *, pin_id: str | None = None, limit: int = 10_000) -> list[AuditRecord]:
        return []


class NoNotices:
    """No notice is due in this fleet (no opt-out tags); one would be a bench defect."""

    def notify(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bench.scan sends no notices")


@dataclass
class Run:
    """One variant on one target."""

    functions: int = 0  # in the fleet
    reached: int = 0  # functions the variant read (or screened) this cycle
    shared_calls: int = 0
    getfunction_calls: int = 0
    throttled: int = 0
    user_calls: int = 0
    user_throttled: int = 0
    seconds: float = 0.0  # AWS time
    complete: bool = True
    opened: int = 0
    invocations: int = 1  # Lambda invocations (of 870 s of work) the target's cycle took


@dataclass
class Variant:
    name: str
    runs: list[Run] = field(default_factory=list)

    def total(self, attribute: str) -> float:
        return float(sum(getattr(run, attribute) for run in self.runs))


@contextmanager
def retries_on(clock: CompressedClock) -> Iterator[None]:
    """botocore's retry back-off sleeps on the compressed clock."""
    shim = types.SimpleNamespace(sleep=clock.sleep, time=time.time, monotonic=time.monotonic)
    real = botocore.endpoint.time
    botocore.endpoint.time = shim
    try:
        yield
    finally:
        botocore.endpoint.time = real


def lambda_client(fleet: Fleet, account: str, region: str, config: Config) -> Any:
    client = boto3.client(
        "lambda",
        region_name=region,
        aws_access_key_id=f"AKIA{account}",
        aws_secret_access_key="bench",
        config=config,
    )
    fleet.serve(client, account)
    return client


def scanner_for(
    fleet: Fleet, target: Target, ledger: MemoryLedger, budget: float, getfunction_budget: float
) -> tuple[Scanner, Any, CallCounter, CallCounter]:
    """A Scanner for one (account, region), as the scan's map child wires it."""
    clock = fleet.clock
    client = lambda_client(fleet, target.account, target.region, RETRY_CONFIG)
    control = AwsLambdaControl(client)
    executions = RecordedExecutions(
        f"arn:aws:states:{target.region}:{ACCOUNTS[0]}:execution:remediation"
    )
    tracker = Tracker(
        ledger=ledger,
        lambda_control=control,
        executions=executions,
        notifier=NoNotices(),
        audit=CountedAudit(),
        policy=Policy.default(),
    )
    lambda_calls, getfunction_calls = CallCounter(), CallCounter()
    scanner = Scanner(
        control,
        tracker,
        ledger,
        executions,
        TokenBucket(budget, clock=clock.now, sleep=clock.sleep),
        lambda_calls=lambda_calls,
        getfunction_calls=getfunction_calls,
        clock=clock.now,
        account_id=target.account,
        region=target.region,
    )
    return scanner, client, lambda_calls, getfunction_calls


def run_scanner(
    fleet: Fleet,
    target: Target,
    ledger: MemoryLedger,
    args: argparse.Namespace,
    *,
    full: bool,
    today: bool = False,
) -> Run:
    clock = fleet.clock
    scanner, client, lambda_calls, getfunction_calls = scanner_for(
        fleet, target, ledger, args.budget, args.getfunction_budget
    )
    target.reset(clock.now())
    started = clock.now()
    getfunction_limiter = TokenBucket(args.getfunction_budget, clock=clock.now, sleep=clock.sleep)
    with (
        retries_on(clock),
        paced(scanner.limiter, [client], lambda_calls),
        pacing(
            client, getfunction_limiter, getfunction_calls, operations=("GetFunction",), exempt=()
        ),
    ):
        if today:
            reached = _today(scanner, clock, started)
            progress = None
        else:
            progress = _as_the_machine_runs_it(scanner, target, full=full)
            reached = progress.functions_seen
    counts = lambda_calls.snapshot()
    return Run(
        functions=len(target.functions),
        reached=reached,
        shared_calls=counts.total_calls,
        getfunction_calls=getfunction_calls.snapshot().total_calls,
        throttled=counts.total_throttled,
        user_calls=target.user_calls,
        user_throttled=target.user_throttled,
        seconds=clock.now() - started,
        complete=progress.complete if progress is not None else reached == len(target.functions),
        opened=progress.opened if progress is not None else 0,
        invocations=progress.invocations if progress is not None else 1,
    )


def _as_the_machine_runs_it(scanner: Scanner, target: Target, *, full: bool) -> TargetProgress:
    """One (account, region) as its Distributed Map child scans it (`handlers/scan.py`
    `scan_target`, the `More?` loop of workflows/scan.py): invocations of 870 s of work, each
    continuing at the last one's ListFunctions marker with the pins it read, until complete."""
    progress = TargetProgress(
        cycle=ScanCycle(id="bench", full=full),
        target=ScanTarget(account=target.account, region=target.region),
    )
    while not progress.complete:
        report = scanner.scan(
            full=full,
            start_marker=progress.marker or None,
            time_budget_seconds=INVOCATION_SECONDS,
            covered_before=progress.covered,
            resume_after=progress.resume_after,
        )
        progress = progress.after(report.summary(), report.covered_pins)
        if progress.invocations > 100:
            raise RuntimeError(f"{target.account}/{target.region} never completes")
    return progress


def _today(scanner: Scanner, clock: CompressedClock, started: float) -> int:
    """The scan before this change, in one invocation: every function listed ($LATEST only),
    ListAliases and one GetRuntimeManagementConfig per qualifier (`reconcile_function` without
    a reading is exactly that read), until the invocation's time is up; no resume."""
    reached = 0
    for function in list_functions(scanner.lambda_control, with_versions=False):
        if clock.now() - started >= INVOCATION_SECONDS:
            break
        scanner.reconcile_function(function)
        reached += 1
    return reached


def run_naive(fleet: Fleet, target: Target) -> Run:
    clock = fleet.clock
    client = lambda_client(fleet, target.account, target.region, STANDARD_RETRIES)
    counter = CallCounter()
    target.reset(clock.now())
    started = clock.now()
    reached = 0
    with retries_on(clock), pacing(client, None, counter):
        names = [
            f["FunctionName"]
            for page in client.get_paginator("list_functions").paginate()
            for f in page["Functions"]
        ]
        for name in names:
            try:
                client.get_runtime_management_config(FunctionName=name)
                reached += 1
            except ClientError:
                pass
    counts = counter.snapshot()
    return Run(
        functions=len(target.functions),
        reached=reached,
        shared_calls=counts.total_calls,
        throttled=counts.total_throttled,
        user_calls=target.user_calls,
        user_throttled=target.user_throttled,
        seconds=clock.now() - started,
        complete=reached == len(target.functions),
    )


def measure(args: argparse.Namespace) -> list[Variant]:
    clock = CompressedClock()
    fleet = Fleet(clock, latency=args.latency)
    targets = [
        (account, region)
        for account in ACCOUNTS[: args.accounts]
        for region in REGIONS[: args.regions]
    ]
    releases: dict[tuple[str, str], Callable[[], None]] = {}
    for account, region in targets:
        releases[(account, region)] = build(
            fleet, account, region, args.functions, pinned_share=args.pinned_share,
            aliased_share=args.alias_share, user_rate=args.user_rate,
        )  # fmt: skip
    ledger = MemoryLedger()
    variants = {name: Variant(name) for name in ("first", "today", "naive", "full", "screen")}
    variants["released"] = Variant("released")
    wall = time.monotonic()
    for key in targets:
        target = fleet.target(*key)
        print(f"  {key[0]}/{key[1]}: {len(target.functions)} functions", flush=True)
        variants["first"].runs.append(run_scanner(fleet, target, ledger, args, full=True))
        variants["today"].runs.append(
            run_scanner(fleet, target, ledger, args, full=True, today=True)
        )
        variants["naive"].runs.append(run_naive(fleet, target))
        variants["full"].runs.append(run_scanner(fleet, target, ledger, args, full=True))
        variants["screen"].runs.append(run_scanner(fleet, target, ledger, args, full=False))
        releases[key]()
        variants["released"].runs.append(run_scanner(fleet, target, ledger, args, full=False))
        print(f"    done, {time.monotonic() - wall:.0f} s of real time so far", flush=True)
    return list(variants.values())


def report(variants: list[Variant], args: argparse.Namespace) -> None:
    targets = len(variants[0].runs)
    fleet = int(variants[0].total("functions"))
    print(
        f"\n{targets} targets (account x region) x {args.functions} functions = {fleet}; "
        f"{args.pinned_share:.0%} pinned, {args.alias_share:.0%} behind an alias; budget "
        f"{args.budget:g} req/s of each shared bucket (15), GetFunction {args.getfunction_budget:g}"
        f" of 100; owner's deploys {args.user_rate:g} req/s; {args.latency * 1000:.0f} ms a call"
    )
    header = (
        f"{'variant':<10}{'calls/fn':>9}{'budget used':>13}{'429s':>7}{'owner 429s':>12}"
        f"{'GetFn/fn':>10}{'cycle (AWS)':>13}{'coverage':>10}{'opened':>8}{'invocations':>13}"
    )
    print(header)
    for variant in variants:
        calls = variant.total("shared_calls")
        functions = variant.total("functions")
        # Budget used: each target's calls over its own run, against its own budget.
        used = [r.shared_calls / (r.seconds * args.budget) for r in variant.runs if r.seconds]
        fraction = sum(used) / len(used) if used else 0.0
        longest = max(r.seconds for r in variant.runs)
        coverage = variant.total("reached") / functions
        budget_text = f"{fraction:.2f}" if variant.name != "naive" else "(none)"
        print(
            f"{variant.name:<10}{calls / functions:>9.3f}{budget_text:>13}"
            f"{int(variant.total('throttled')):>7}{_owner(variant):>12}"
            f"{variant.total('getfunction_calls') / functions:>10.2f}"
            f"{_duration(longest):>13}{coverage:>10.0%}{int(variant.total('opened')):>8}"
            f"{max(r.invocations for r in variant.runs):>13}"
        )
    by_name = {v.name: v for v in variants}
    full, screen, today = by_name["full"], by_name["screen"], by_name["today"]
    print("\nratios:")
    print(
        "  steady calls/fn, screening / full pass     "
        f"{screen.total('shared_calls') / full.total('shared_calls'):.3f}"
    )
    # Today's scan reaches only part of the fleet in its one invocation: per function reached.
    today_per_reached = today.total("shared_calls") / max(today.total("reached"), 1.0)
    print(
        "  full pass calls per function reached, new / today's  "
        f"{_per_function(full) / today_per_reached:.3f}  "
        f"({_per_function(full):.3f} vs {today_per_reached:.3f})"
    )
    print(
        "  coverage per cycle, new / today's          "
        f"{1.0 / max(today.total('reached') / today.total('functions'), 1e-9):.2f}x"
    )
    cycle = max(r.seconds for r in full.runs)
    print(
        f"  one full cycle on AWS: {_duration(cycle)} (the longest (account, region); "
        f"{args.functions} functions x {_per_function(full):.3f} calls / {args.budget:g} req/s "
        f"= {_duration(args.functions * _per_function(full) / args.budget)})"
    )


def _per_function(variant: Variant) -> float:
    return variant.total("shared_calls") / variant.total("functions")


def _owner(variant: Variant) -> str:
    return f"{int(variant.total('user_throttled'))}/{int(variant.total('user_calls'))}"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--embedded" in argv:
        from bench import scan_embedded

        sys.argv = [sys.argv[0], *(a for a in argv if a != "--embedded")]
        scan_embedded.main()
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--accounts", type=int, default=3, choices=range(1, len(ACCOUNTS) + 1))
    parser.add_argument("--regions", type=int, default=2, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--functions", type=int, default=5000, help="per (account, region)")
    parser.add_argument("--pinned-share", type=float, default=0.10)
    parser.add_argument("--alias-share", type=float, default=0.20)
    parser.add_argument("--budget", type=float, default=3.0, help="req/s of each shared bucket")
    parser.add_argument("--getfunction-budget", type=float, default=25.0, help="req/s of 100")
    parser.add_argument("--user-rate", type=float, default=3.0, help="owner's deploys, req/s")
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per call")
    args = parser.parse_args(argv)
    started = time.monotonic()
    variants = measure(args)
    report(variants, args)
    print(f"\n(real time {time.monotonic() - started:.0f} s on a compressed clock)")


if __name__ == "__main__":
    main()
