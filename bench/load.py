"""Load on the emulator server: many pins at once, and the CPU that parked executions cost.

Run: `.venv/bin/python -m bench.load [--pins 500] [--window 55] [--idle 1500] [--idle-window 5]`
(5-7 minutes with the defaults on a shared 2-core machine; `--pins 100 --idle 300` about 1.5).

Scenario: `rollforward emulator --deploy` in this process (an `EmulatorServer` on a free port,
the stack deployed through HTTP), every call over HTTP as an operator's would be.

1. Idle executions. Process CPU over `--idle-window` real seconds with nothing running (the
   baseline), then with `--idle` executions parked as `bench.idle.park` parks them (half in a
   30-day Wait, half in `.waitForTaskToken`); CPU per idle execution above the baseline, and
   how many such executions would fill one core. Then they are stopped.
2. Pins. `--pins` fleet functions are created (throttling off), then, with Lambda's 15 req/s
   shared control-plane bucket on, one `PutRuntimeManagementConfig` (Manual) each, spread
   evenly over `--window` seconds by 64 client threads, each with its own client and adaptive
   retries (429s retried, as the AWS CLI and SDKs do). Pins come from many callers (deploy
   pipelines, consoles), so no caller's retry back-off delays another's: with one shared
   adaptive client, its rate limiter held every thread back after the first 429s and the last
   of 500 Puts went out at 83 s of a 55 s window. Every pin's CloudTrail event reaches detect, which opens the pin and
   starts its one tracking execution. Meanwhile a user polls the decision API once a second
   (an approval with no id: refused by the decision handler itself, 404 "no such approval").

Printed: when the last Put was first sent (it must be within the window, or the figures below
measure a slower storm than asked for), the time from the first Put until every pin is in the
ledger with exactly one execution (and its ratio to the issue window), the slowest Put (retries included), p50/p99,
the 429s, the slowest decision-API answer, pins missing or with other than one execution,
and the idle CPU figures. Exit status 0 either way: this is a measurement.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from rollforward.model import discovery_parameter

from bench.idle import park
from emulator.server import EmulatorServer
from emulator.stack import deploy_rollforward
from emulator.state import STATE
from emulator.throttling import Bucket, reset_throttle_stats, throttle_stats

REGION = "us-east-1"
ACCOUNT = "123456789012"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
PIN_THREADS = 64
USER_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10}, read_timeout=120)


@dataclass
class PinFigures:
    pins: int
    window: float
    last_sent: float = 0.0  # when the last Put's first attempt went out, from the first's
    issued_in: float = 0.0  # when the last Put was answered (retries included)
    tracked_after: float = 0.0
    put_seconds: list[float] = field(default_factory=list)
    put_failures: int = 0
    throttled: int = 0
    decision_seconds: list[float] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    executions_per_pin: Counter[int] = field(default_factory=Counter)
    bucket_admitted: int = 0  # shared control-plane calls admitted until all were tracked
    shared_rate: float = 15.0
    cpu_seconds: float = 0.0

    @property
    def bucket_bound(self) -> float:
        """Seconds the admitted shared-bucket calls need at the bucket's rate: the floor AWS's
        15 req/s puts under the time to track every pin (the bucket starts full: ~1 s less)."""
        return self.bucket_admitted / self.shared_rate


@dataclass
class IdleFigures:
    executions: int
    window: float
    baseline_cpu: float  # CPU seconds per real second, nothing running
    idle_cpu: float  # CPU seconds per real second, `executions` parked

    @property
    def cores_full_at(self) -> float:
        """Parked executions that would keep one core busy at this cost each."""
        return 1000 / self.per_execution_ms if self.per_execution_ms else float("inf")

    @property
    def per_execution_ms(self) -> float:
        """CPU milliseconds per real second per parked execution, above the baseline."""
        return 1000 * max(0.0, self.idle_cpu - self.baseline_cpu) / max(1, self.executions)


class Server:
    def __init__(self) -> None:
        for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            os.environ.pop(key, None)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
            }
        )
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto's interpreter logs each parked execution the bench stops (its task interrupted)
        # as an ERROR with the whole state's repr: 750 screens of noise, no information.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        STATE.handler_log_level = "ERROR"
        self.server = EmulatorServer(port=0, throttling=False).start()
        deployment = deploy_rollforward(region=REGION)
        name = discovery_parameter(deployment.stack_name)
        self.discovery = json.loads(
            self.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        )

    def client(self, service: str, config: Config | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.server.endpoint_url,
            region_name=REGION,
            config=config,
            **KEYS,
        )

    def stop(self) -> None:
        sfn = self.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            _stop_all(sfn, machine["stateMachineArn"])
        self.server.stop()


def _stop_all(sfn: Any, machine_arn: str) -> None:
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=machine_arn, statusFilter="RUNNING"):
        for execution in page["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"])


def _executions(sfn: Any, machine_arn: str, status: str | None = None) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"stateMachineArn": machine_arn}
    if status:
        kwargs["statusFilter"] = status
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(**kwargs):
        found.extend(page["executions"])
    return found


def cpu_per_second(window: float) -> float:
    """Process CPU seconds (every thread) per real second, over `window` real seconds."""
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(window)
    return (time.process_time() - cpu) / (time.monotonic() - wall)


def measure_idle(server: Server, executions: int, window: float) -> IdleFigures:
    """bench.idle's parked executions (half in a Wait, half in `.waitForTaskToken`), started
    through the server; process CPU over `window` before and after they park."""
    sfn = server.client("stepfunctions")
    baseline = cpu_per_second(window)
    arns = park(sfn, server.client("sqs"), executions, server.client("iam"))
    _wait_until(lambda: _all_parked(sfn, arns), what=f"{executions} parked executions")
    idle = cpu_per_second(window)
    for arn in arns:
        sfn.stop_execution(executionArn=arn)
    return IdleFigures(executions, window, baseline, idle)


def _all_parked(sfn: Any, arns: list[str]) -> bool:
    """The last two started (one per kind) have reached their parking state."""
    for arn in arns[-2:]:
        events = sfn.get_execution_history(executionArn=arn)["events"]
        if not events or events[-1]["type"] not in {"WaitStateEntered", "TaskSubmitted"}:
            return False
    return True


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 600.0) -> None:
    # A bench may poll: it observes the emulator from outside, as an operator would.
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.5)


def build_fleet(server: Server, count: int) -> tuple[list[str], str]:
    """`count` functions (throttling off) and the runtime version ARN they run on."""
    lam, iam = server.client("lambda"), server.client("iam")
    role = iam.create_role(RoleName="bench-fleet", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
    names = [f"load-{index:04d}" for index in range(count)]
    for name in names:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": buffer.getvalue()},
            Tags={"rollforward:owner": "load@example.com"},
        )
    config = lam.get_function(FunctionName=names[0])["Configuration"]
    return names, str(config["RuntimeVersionConfig"]["RuntimeVersionArn"])


class DecisionPoller:
    """A user asking the decision API something once a second while the load runs."""

    def __init__(self, server: Server) -> None:
        api, stage = server.discovery["decision_api_id"], server.discovery["decision_api_stage"]
        self.url = f"{server.server.endpoint_url}/restapis/{api}/{stage}/_user_request_/decisions"
        self.seconds: list[float] = []
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            body = b'{"action": "approve"}'  # no approval id: the handler answers 404
            request = AWSRequest(method="POST", url=self.url, data=body)
            SigV4Auth(Credentials("testing", "testing"), "execute-api", REGION).add_auth(request)
            started = time.monotonic()
            try:
                response = requests.post(
                    self.url, data=body, headers=dict(request.headers), timeout=120
                )
                self.statuses[response.status_code] += 1
            except requests.RequestException:
                self.statuses[0] += 1
            self.seconds.append(time.monotonic() - started)
            self._stop.wait(1.0)

    def __enter__(self) -> DecisionPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def issue_pins(server: Server, names: list[str], runtime_arn: str, window: float) -> PinFigures:
    figures = PinFigures(len(names), window)
    clients = [server.client("lambda", USER_RETRIES) for _ in range(PIN_THREADS)]
    lock = threading.Lock()
    next_index = iter(range(len(names)))
    started = time.monotonic()
    interval = window / max(1, len(names))

    def pinner(lam: Any) -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            time.sleep(max(0.0, started + index * interval - time.monotonic()))
            began = time.monotonic()
            with lock:
                figures.last_sent = max(figures.last_sent, began - started)
            try:
                lam.put_runtime_management_config(
                    FunctionName=names[index],
                    UpdateRuntimeOn="Manual",
                    RuntimeVersionArn=runtime_arn,
                )
            except Exception:
                with lock:
                    figures.put_failures += 1
            with lock:
                figures.put_seconds.append(time.monotonic() - began)

    threads = [threading.Thread(target=pinner, args=(lam,)) for lam in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    figures.issued_in = time.monotonic() - started
    # Every delivery (detect, and the execution each starts) done: no polling needed.
    STATE.drain(timeout=1800.0)
    figures.tracked_after = time.monotonic() - started
    figures.bucket_admitted = throttle_stats().allowed.get(Bucket.SHARED, 0)
    figures.shared_rate = STATE.throttle.shared_rate
    return figures


def check_tracking(server: Server, figures: PinFigures, names: list[str]) -> None:
    dynamodb = server.client("dynamodb")
    table = server.discovery["ledger_table"]
    opened: set[str] = set()
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            opened.add(item["pin_id"]["S"].split(":function:", 1)[1].split("#", 1)[0])
    sfn = server.client("stepfunctions")
    machine = server.discovery.get("state_machine_arn") or next(
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if "Remediation" in m["name"]
    )
    per_function: Counter[str] = Counter()
    for execution in _executions(sfn, machine):
        for name in names:
            if execution["name"].startswith(f"pin-{name}-"):
                per_function[name] += 1
    figures.missing = [name for name in names if name not in opened]
    figures.executions_per_pin = Counter(per_function[name] for name in names)


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(
    pins: PinFigures, idle: IdleFigures | None, throttled: int, statuses: Counter[int]
) -> None:
    print()
    within = "within" if pins.last_sent <= pins.window + 1.0 else "NOT within"
    print(f"pins issued:                 {pins.pins}, the last sent at {pins.last_sent:.1f} s: "
          f"{within} the {pins.window:.0f} s window")  # fmt: skip
    print(f"  all answered after:        {pins.issued_in:.1f} s, "
          f"{pins.put_failures} failed for good")  # fmt: skip
    print(f"all tracked after:           {pins.tracked_after:.1f} s from the first Put")
    print(f"  tracked-time / window:     {pins.tracked_after / pins.window:.2f}")
    print(f"  shared-bucket calls:       {pins.bucket_admitted} admitted "
          f"({pins.bucket_admitted / pins.pins:.1f} per pin) = {pins.bucket_bound:.0f} s "
          f"at {pins.shared_rate:.0f} req/s")  # fmt: skip
    bound = pins.tracked_after / pins.bucket_bound if pins.bucket_bound else 0.0
    print(f"  tracked-time / bucket time: {bound:.2f}")
    print(f"  CPU meanwhile:             {pins.cpu_seconds:.0f} CPU-s "
          f"({pins.cpu_seconds / pins.tracked_after:.2f} cores)")  # fmt: skip
    print(f"  missing from the ledger:   {len(pins.missing)} {pins.missing[:5]}")
    print(f"  executions per pin:        {dict(sorted(pins.executions_per_pin.items()))}")
    print(f"Put latency (retries incl.): p50 {_percentile(pins.put_seconds, 0.5):.2f} s, "
          f"p99 {_percentile(pins.put_seconds, 0.99):.2f} s, "
          f"slowest {max(pins.put_seconds, default=0):.2f} s")  # fmt: skip
    print(f"  429s answered meanwhile:   {throttled}")
    decision = pins.decision_seconds
    print(f"decision API while loaded:   {len(decision)} calls, "
          f"median {statistics.median(decision) if decision else 0:.2f} s, "
          f"slowest {max(decision, default=0):.2f} s, statuses {dict(statuses)}")  # fmt: skip
    slowest = max([*pins.put_seconds, *decision], default=0.0)
    print(f"slowest API call:            {slowest:.2f} s")
    if idle:
        print(f"idle CPU, nothing running:   {idle.baseline_cpu:.3f} CPU-s/s")
        print(f"{f'idle CPU, {idle.executions} parked:':<29}{idle.idle_cpu:.3f} CPU-s/s "
              f"({idle.per_execution_ms:.3f} CPU-ms/s per execution)")  # fmt: skip
        print(f"  one core's worth at:       {idle.cores_full_at:,.0f} parked executions")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pins", type=int, default=500)
    parser.add_argument("--window", type=float, default=55.0, help="seconds to issue them over")
    parser.add_argument("--idle", type=int, default=1500, help="parked executions (0: skip)")
    parser.add_argument("--idle-window", type=float, default=5.0)
    args = parser.parse_args(argv)

    print("starting the emulator server and deploying rollforward…", flush=True)
    server = Server()
    try:
        idle = None
        if args.idle:
            print(f"parking {args.idle} executions…", flush=True)
            idle = measure_idle(server, args.idle, args.idle_window)
        print(f"creating {args.pins} functions…", flush=True)
        names, runtime_arn = build_fleet(server, args.pins)
        STATE.throttle.enabled = True
        reset_throttle_stats()
        print(f"pinning them over {args.window:.0f} s with throttling on…", flush=True)
        cpu = time.process_time()
        with DecisionPoller(server) as poller:
            pins = issue_pins(server, names, runtime_arn, args.window)
        pins.cpu_seconds = time.process_time() - cpu
        pins.decision_seconds = poller.seconds
        throttled = throttle_stats().throttled.get(Bucket.SHARED, 0)
        STATE.throttle.enabled = False
        check_tracking(server, pins, names)
        report(pins, idle, throttled, poller.statuses)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
