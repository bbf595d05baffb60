"""CPU used by idle executions: parked in a Wait state and in `.waitForTaskToken`.

Run: `.venv/bin/python -m bench.idle` (about 3 minutes: each mode parks the executions, then
measures for `--seconds` of wall time, each in its own process).

Scenario: the in-process embedded AWS; half of `--executions` (default 1,500) sit in a Wait of
30 days, half in an SQS `.waitForTaskToken` task with a 30-day timeout (rollforward's ladder and
approval, without Lambda). Once all are parked, the process's CPU time (user + system) is read
over `--seconds` of wall time. Two modes:

- `polling`: every parked execution re-checks its clock every 50 ms (the emulator before it
  woke sleepers on events);
- `events`: the current emulator, where a sleeper blocks until its deadline, a clock advance,
  a callback or a stop.

Printed: CPU seconds and CPU share per mode, and polling/events as a ratio. Exit status 0
either way: this is a measurement.

Other benches reuse the figure: `measure_idle_cpu()` runs one mode in the current process;
`park()` parks executions through any boto3 clients (a server endpoint too), and
`process_cpu_seconds(pid)` reads another process's CPU time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from emulator.clock import VirtualClock

ROLE = "arn:aws:iam::123456789012:role/idle-bench"
THIRTY_DAYS = 30 * 24 * 3600
POLL_SECONDS = 0.05  # the interval parked executions re-checked at before events
TICK = 1 / os.sysconf("SC_CLK_TCK")  # resolution of process CPU accounting


@dataclass(frozen=True)
class IdleCpu:
    """CPU used by parked executions over a stretch of wall time."""

    executions: int
    wall_seconds: float
    cpu_seconds: float
    park_seconds: float  # how long it took to start and park them all

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second (1.0 = one core busy)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0


def process_cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of `pid` (default: this process), from /proc."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _ensure_role(iam: Any) -> None:
    """`ROLE`, which Step Functions may assume and which may send the task token to SQS: under
    IAM enforcement a role that does not exist (or may not SendMessage) fails every callback
    execution at once, and the bench would measure finished executions, not parked ones."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    with suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName="idle-bench", AssumeRolePolicyDocument=json.dumps(trust))
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="idle-bench", PolicyName="send", PolicyDocument=json.dumps(allow))


def park(sfn: Any, sqs: Any, count: int, iam: Any = None) -> list[str]:
    """Start `count` executions that park: half in a 30-day Wait, half in a
    `.waitForTaskToken` task (30-day timeout). Returns their ARNs; they are RUNNING.
    With `iam`, the state machines' role is made first (needed under IAM enforcement)."""
    if iam is not None:
        _ensure_role(iam)
    queue = sqs.create_queue(QueueName=f"idle-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    waiting = {
        "StartAt": "Wait",
        "States": {"Wait": {"Type": "Wait", "Seconds": THIRTY_DAYS, "End": True}},
    }
    asking = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": THIRTY_DAYS,
                "End": True,
            }
        },
    }
    machines = [
        sfn.create_state_machine(
            name=f"idle-{kind}-{uuid.uuid4().hex[:8]}", definition=json.dumps(d), roleArn=ROLE
        )["stateMachineArn"]
        for kind, d in (("wait", waiting), ("callback", asking))
    ]
    return [
        sfn.start_execution(stateMachineArn=machines[i % 2], name=f"idle-{i}")["executionArn"]
        for i in range(count)
    ]


def _polling_sleep_until(
    self: VirtualClock,
    deadline: datetime,
    wake: threading.Event | None = None,
    *,
    done: Callable[[], bool] | None = None,
) -> bool:
    """The clock before events: every sleeper re-checks every 50 ms."""
    event = wake if wake is not None else threading.Event()
    finished = done if done is not None else event.is_set
    with self._lock:
        self._sleepers[event] += 1
    try:
        while True:
            if finished():
                return False
            remaining = (deadline - self.now()).total_seconds()
            if remaining <= 0:
                return True
            time.sleep(min(remaining, POLL_SECONDS))
    finally:
        with self._lock:
            self._sleepers[event] -= 1
            if self._sleepers[event] <= 0:
                del self._sleepers[event]


@contextmanager
def _polling() -> Iterator[None]:
    original = VirtualClock.sleep_until
    VirtualClock.sleep_until = _polling_sleep_until  # type: ignore[method-assign]
    try:
        yield
    finally:
        VirtualClock.sleep_until = original  # type: ignore[method-assign]


def measure_idle_cpu(
    executions: int = 1500, seconds: float = 30.0, *, polling: bool = False
) -> IdleCpu:
    """Park `executions` in the in-process embedded AWS; CPU used over `seconds` of wall time."""
    import boto3

    from emulator.inprocess import EmbeddedAws

    threading.stack_size(512 * 1024)  # thousands of interpreter threads
    # moto logs every interrupted task at teardown; the measurement is what we print.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with _polling() if polling else _no_change(), EmbeddedAws() as aws:
        started = time.monotonic()
        park(boto3.client("stepfunctions"), boto3.client("sqs"), executions, boto3.client("iam"))
        # Each parked execution has exactly one thread inside the clock's sleep_until.
        while aws.state.clock.sleeping() < executions:
            if time.monotonic() - started > 600:
                raise RuntimeError(f"only {aws.state.clock.sleeping()} of {executions} parked")
            time.sleep(0.5)
        parked = time.monotonic() - started
        time.sleep(2)  # let the last starts settle
        cpu_before, wall_before = process_cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        cpu, wall = process_cpu_seconds() - cpu_before, time.monotonic() - wall_before
    return IdleCpu(executions, wall, cpu, parked)


@contextmanager
def _no_change() -> Iterator[None]:
    yield


def _in_subprocess(mode: str, executions: int, seconds: float) -> IdleCpu:
    command = [sys.executable, "-m", "bench.idle", "--mode", mode, "--json"]
    command += ["--executions", str(executions), "--seconds", str(seconds)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return IdleCpu(**json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=1500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--mode", choices=["both", "polling", "events"], default="both")
    parser.add_argument("--json", action="store_true", help="one mode, one JSON line")
    args = parser.parse_args()
    if args.mode != "both":
        result = measure_idle_cpu(args.executions, args.seconds, polling=args.mode == "polling")
        if args.json:
            print(json.dumps(asdict(result)))
        else:
            _report(args.mode, result)
        return
    results = {m: _in_subprocess(m, args.executions, args.seconds) for m in ("polling", "events")}
    for mode, result in results.items():
        _report(mode, result)
    polling, events = results["polling"], results["events"]
    if events.cpu_seconds >= TICK:
        ratio = polling.cpu_seconds / events.cpu_seconds
        print(f"polling / events: {ratio:.0f}x the CPU for the same idle executions")
    else:  # below the kernel's accounting tick: bound the ratio from below
        print(
            f"polling / events: > {polling.cpu_seconds / TICK:.0f}x the CPU for the same idle "
            f"executions (events used less than one {TICK} s tick)"
        )


def _report(mode: str, result: IdleCpu) -> None:
    print(
        f"{mode:8} {result.executions} idle executions: {result.cpu_seconds:.3f} CPU s over "
        f"{result.wall_seconds:.1f} s wall ({100 * result.cpu_share:.1f}% of a core); "
        f"parked in {result.park_seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
