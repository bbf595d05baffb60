"""The reconciling scan against a naive loop, on the shared 15 req/s control-plane bucket.

Run: `.venv/bin/python -m bench.scan --embedded [--functions 300] [--budget 10] [--user-rate 3]`
(also `python -m bench.scan_embedded ...`).
Real time: the emulator's bucket refills in real seconds, as AWS's does. With 2,000 functions
the scan makes about 4,400 calls at 10 req/s (~7.5 min) and the naive loop about 2,040 calls at
<= 15 req/s (> 2 min); `--functions 200` finishes in about a minute.

Scenario: the in-process embedded AWS with throttling on (`EmbeddedAws(throttling=True)`,
15 req/s shared by every Lambda control-plane call except GetFunction). The rollforward stack is
deployed from the CDK app, its detection rule disabled (so only the scans see the fleet). The
fleet is built with throttling off: N zip functions, 10 % with an alias on a published version,
10 % pinned to Manual (a fifth of those on the alias's version rather than `$LATEST`).
Then, with throttling on and the same background load of `--user-rate` req/s standing in for
the account owner's own deploys (GetFunctionConfiguration, no retries: a deploy tool that
meets a 429 fails or slows down), two variants run one after the other:

- scan: `rollforward.scan.Scanner` (wired by `handlers/scan.wire`) paced by `TokenBucket(--budget)`, adaptive retries, exactly
  as the Scan Lambda builds it; a first scan, so it also opens every pin (ListTags, executions).
- naive: a boto3 client with default retries; ListFunctions, then one
  GetRuntimeManagementConfig per function, flat out. It reads less (no aliases, no versions)
  and still costs the user more.

Then, the pins known (steady state), two more scans: a full pass again ("full") and a
screening cycle ("screen": GetFunction on every `$LATEST`, GetRuntimeManagementConfig only on
outliers and ledger items; `rollforward.scan.screening`) — shared-bucket calls per function
before/after screening.

Printed per variant: shared-bucket calls it made (attempts, retries included) and per function,
achieved rate (and as a fraction of the scan's budget), 429s it received, calls that failed for
good, the user's calls throttled meanwhile, wall time. Then the ratios. Exit status 0 either
way: this is a measurement.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import threading
import time
import zipfile
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from rollforward.adapters import scanning
from rollforward.adapters.executions import StepFunctionsExecutions
from rollforward.adapters.lambda_control import AwsLambdaControl
from rollforward.escalation.tracking import Tracker
from rollforward.handlers import wiring
from rollforward.ratelimit import CallCounter, TokenBucket, pacing
from rollforward.scan import ScanReport

from emulator.inprocess import EmbeddedAws
from emulator.stack import deploy_rollforward
from emulator.state import STATE
from emulator.throttling import Bucket, reset_throttle_stats, throttle_stats

SHARED_RATE = 15.0
RUNTIME = "python3.12"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@dataclass
class Figures:
    """One variant's footprint on the shared bucket."""

    name: str
    functions: int
    calls: int  # attempts the variant sent, retries included
    throttled: int  # 429s it received
    failed: int  # calls that failed for good (after retries)
    wall_seconds: float
    user_calls: int
    user_throttled: int
    bucket_calls: int  # everything the emulator admitted or refused meanwhile
    bucket_throttled: int

    @property
    def calls_per_function(self) -> float:
        return self.calls / self.functions if self.functions else 0.0

    @property
    def rate(self) -> float:
        return self.calls / self.wall_seconds if self.wall_seconds else 0.0


class UserLoad:
    """The account owner's own control-plane traffic, at a steady rate, in a thread."""

    def __init__(self, rate: float, function_name: str) -> None:
        self.rate = rate
        self.function_name = function_name
        self.calls = 0
        self.throttled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._client = boto3.client("lambda", config=NO_RETRIES)

    def _run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._client.get_function_configuration(FunctionName=self.function_name)
            except ClientError as error:
                if error.response["Error"]["Code"] == "TooManyRequestsException":
                    self.throttled += 1
            self.calls += 1
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def measure(self) -> tuple[int, int]:
        return self.calls, self.throttled

    def __enter__(self) -> UserLoad:
        if self.rate > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def build_fleet(count: int, pinned_share: float, alias_share: float) -> dict[str, int]:
    """Create the fleet (throttling must be off). Returns what was made."""
    lam = boto3.client("lambda")
    role = boto3.client("iam").create_role(RoleName="fleet", AssumeRolePolicyDocument="{}")
    code = _zip()
    pin_every = round(1 / pinned_share) if pinned_share else 0
    alias_every = round(1 / alias_share) if alias_share else 0
    made = {"functions": 0, "aliased": 0, "pinned_latest": 0, "pinned_version": 0}
    for index in range(count):
        name = f"fleet-{index:05d}"
        config = lam.create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Handler="app.handler",
            Role=role["Role"]["Arn"],
            Code={"ZipFile": code},
            Tags={"rollforward:owner": f"team-{index % 17}@example.com"},
        )
        made["functions"] += 1
        version = None
        if alias_every and index % alias_every == 1:
            version = lam.publish_version(FunctionName=name)["Version"]
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
            made["aliased"] += 1
        if pin_every and index % pin_every == 0:
            # A fifth of the pins are on the alias's published version, the rest on $LATEST.
            on_version = (index // pin_every) % 5 == 0
            if on_version and version is None:
                version = lam.publish_version(FunctionName=name)["Version"]
                lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
                made["aliased"] += 1
            qualifier = version if on_version else "$LATEST"
            arn = lam.get_function_configuration(FunctionName=name, Qualifier=qualifier)[
                "RuntimeVersionConfig"
            ]["RuntimeVersionArn"]
            lam.put_runtime_management_config(
                FunctionName=name, Qualifier=qualifier, UpdateRuntimeOn="Manual",
                RuntimeVersionArn=arn,
            )  # fmt: skip
            made["pinned_version" if on_version else "pinned_latest"] += 1
        del config
    return made


def scanner_for(deployment: Any, budget: float) -> scanning.WiredScan:
    """The Scanner as the Scan Lambda wires it (adaptive retries), with the bench's budget."""
    lam = boto3.client("lambda")
    scan_function = deployment.find("AWS::Lambda::Function", "Scan")
    env = lam.get_function_configuration(FunctionName=scan_function)["Environment"]["Variables"]
    settings = dataclasses.replace(
        wiring.FunctionSettings.from_env(env), scan_rate_per_second=budget
    )
    # Clients of its own: in this one process the tracking executions' handlers share the
    # cached `wiring` clients, and their calls must not be paced or counted as the scan's.
    lambda_client = boto3.client("lambda", config=wiring.RETRY_CONFIG)
    sfn_client = boto3.client("stepfunctions", config=wiring.RETRY_CONFIG)
    tracker = Tracker(
        ledger=wiring.ledger(settings),
        lambda_control=AwsLambdaControl(lambda_client),
        executions=StepFunctionsExecutions(sfn_client, settings.state_machine_arn),
        notifier=wiring.notifier(settings),
        audit=wiring.audit(settings),
        policy=settings.policy,
    )
    return scanning.wire(
        settings,
        TokenBucket(settings.scan_rate_per_second),
        lambda_client=lambda_client,
        sfn_client=sfn_client,
        tracker=tracker,
        canary_function=None,  # no canary runs in this fleet
    )


def _bucket_totals() -> tuple[int, int]:
    stats = throttle_stats()
    return stats.allowed.get(Bucket.SHARED, 0) + stats.throttled.get(
        Bucket.SHARED, 0
    ), stats.throttled.get(Bucket.SHARED, 0)


def _settle() -> None:
    """Let the bucket refill and the counters start from zero."""
    time.sleep(2.0)
    reset_throttle_stats()


def run_scan(
    deployment: Any, budget: float, user: UserLoad, *, full: bool = True, name: str = "scan"
) -> tuple[Figures, ScanReport]:
    wired = scanner_for(deployment, budget)
    started = time.monotonic()
    user_before = user.measure()

    def progress(report: ScanReport) -> None:
        if report.functions_seen % 250 == 0:
            elapsed = time.monotonic() - started
            print(f"  scan: {report.functions_seen} functions, {elapsed:.0f} s", flush=True)

    with wired.paced() as scanner:
        report = scanner.scan(progress=progress, full=full)
    wall = time.monotonic() - started
    user_calls, user_throttled = (a - b for a, b in zip(user.measure(), user_before, strict=True))
    bucket_calls, bucket_throttled = _bucket_totals()
    return Figures(
        name=name,
        functions=report.functions_seen,
        calls=report.control_plane_calls,
        throttled=report.throttled,
        failed=len(report.errors),
        wall_seconds=wall,
        user_calls=user_calls,
        user_throttled=user_throttled,
        bucket_calls=bucket_calls,
        bucket_throttled=bucket_throttled,
    ), report


def run_naive(user: UserLoad) -> Figures:
    lam = boto3.client("lambda")  # default retries
    counter = CallCounter()
    failed = 0
    functions = 0
    started = time.monotonic()
    user_before = user.measure()
    with pacing(lam, None, counter):
        names = [
            f["FunctionName"]
            for page in lam.get_paginator("list_functions").paginate()
            for f in page["Functions"]
        ]
        for name in names:
            functions += 1
            try:
                lam.get_runtime_management_config(FunctionName=name)
            except ClientError:
                failed += 1
            if functions % 500 == 0:
                print(f"  naive: {functions} functions, {time.monotonic() - started:.0f} s")
    wall = time.monotonic() - started
    user_calls, user_throttled = (a - b for a, b in zip(user.measure(), user_before, strict=True))
    counts = counter.snapshot()
    bucket_calls, bucket_throttled = _bucket_totals()
    return Figures(
        name="naive",
        functions=functions,
        calls=counts.total_calls,
        throttled=counts.total_throttled,
        failed=failed,
        wall_seconds=wall,
        user_calls=user_calls,
        user_throttled=user_throttled,
        bucket_calls=bucket_calls,
        bucket_throttled=bucket_throttled,
    )


def _ratio(numerator: float, denominator: float) -> str:
    if denominator == 0:
        return "inf" if numerator else "-"
    return f"{numerator / denominator:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--functions", type=int, default=2000)
    parser.add_argument("--budget", type=float, default=10.0, help="scan req/s of the 15")
    parser.add_argument("--user-rate", type=float, default=3.0, help="user's own req/s")
    parser.add_argument("--pinned-share", type=float, default=0.10)
    parser.add_argument("--alias-share", type=float, default=0.10)
    args = parser.parse_args()

    with EmbeddedAws(throttling=True) as aws:
        aws.state.throttle.enabled = False  # building the fleet is not the measurement
        t0 = time.monotonic()
        deployment = deploy_rollforward()
        rule = deployment.find("AWS::Events::Rule", "RuntimeConfigChanged")
        boto3.client("events").disable_rule(Name=rule)
        made = build_fleet(args.functions, args.pinned_share, args.alias_share)
        print(
            f"fleet: {made} (+ the stack's own functions), built in "
            f"{time.monotonic() - t0:.0f} s with throttling off"
        )
        STATE.throttle.enabled = True
        with UserLoad(args.user_rate, "fleet-00001") as user:
            _settle()
            scan_figures, report = run_scan(deployment, args.budget, user)
            print(
                f"  scan report: opened {len(report.opened)}, closed {len(report.closed)}, "
                f"restarted {len(report.restarted)}, errors {len(report.errors)}, "
                f"calls {dict(sorted(report.calls_by_operation.items()))}"
            )
            # Steady state: the pins are known; a full pass again, then a screening cycle.
            _settle()
            full_figures, _ = run_scan(deployment, args.budget, user, name="full")
            _settle()
            screen_figures, screened = run_scan(
                deployment, args.budget, user, full=False, name="screen"
            )
            print(
                f"  screening: {screened.functions_screened} of {screened.functions_seen} "
                f"functions screened out on GetFunction ({sum(screened.getfunction_calls.values())}"
                f" GetFunction calls, its own bucket); opened {len(screened.opened)}, "
                f"calls {dict(sorted(screened.calls_by_operation.items()))}"
            )
            _settle()
            naive_figures = run_naive(user)

    print(f"\nshared bucket {SHARED_RATE:.0f} req/s; scan budget {args.budget:g} req/s; "
          f"user load {args.user_rate:g} req/s (no retries)")  # fmt: skip
    header = (
        f"{'variant':<8}{'functions':>10}{'calls':>8}{'calls/fn':>10}{'rate/s':>8}"
        f"{'rate/budget':>13}{'429s':>7}{'failed':>8}{'user 429s':>11}{'wall s':>9}"
    )
    print(header)
    for f in (scan_figures, full_figures, screen_figures, naive_figures):
        print(
            f"{f.name:<8}{f.functions:>10}{f.calls:>8}{f.calls_per_function:>10.2f}"
            f"{f.rate:>8.2f}{f.rate / args.budget:>13.2f}{f.throttled:>7}{f.failed:>8}"
            f"{f'{f.user_throttled}/{f.user_calls}':>11}{f.wall_seconds:>9.1f}"
        )
    print("\nwhole shared bucket meanwhile (rollforward's executions and the user included):")
    for f in (scan_figures, naive_figures):
        print(
            f"  {f.name:<6} {f.bucket_calls} calls, {f.bucket_throttled} refused (429), "
            f"{f.bucket_calls / f.wall_seconds:.2f} req/s"
        )
    print("\nratios:")
    print(f"  scan rate / budget          {_ratio(scan_figures.rate, args.budget)}")
    print(f"  naive rate / 15 req/s       {_ratio(naive_figures.rate, SHARED_RATE)}")
    print(
        f"  naive 429s / scan 429s      {_ratio(naive_figures.throttled, scan_figures.throttled)}"
        f"  ({naive_figures.throttled} vs {scan_figures.throttled})"
    )
    print(
        "  user 429s naive / scan      "
        f"{_ratio(naive_figures.user_throttled, scan_figures.user_throttled)}"
        f"  ({naive_figures.user_throttled} vs {scan_figures.user_throttled})"
    )
    print(
        "  scan calls/fn / naive       "
        f"{_ratio(scan_figures.calls_per_function, naive_figures.calls_per_function)}"
    )
    print(
        "  steady calls/fn, screening / full pass   "
        f"{_ratio(screen_figures.calls_per_function, full_figures.calls_per_function)}"
        f"  ({screen_figures.calls_per_function:.3f} vs {full_figures.calls_per_function:.3f})"
    )


if __name__ == "__main__":
    main()
