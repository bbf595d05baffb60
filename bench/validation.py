"""What request validation costs: the validator's share of a test run, and per call.

Run: `.venv/bin/python -m bench.validation [pytest args]` (default: the e2e canary tests, ~2 min).

Part 1 runs the given tests in this process with validation on (the default) and prints the
requests checked, the seconds spent checking them, and that time as a share of the run's wall
time. Part 2 times a mix of typical control-plane calls (Lambda REST, Step Functions JSON, SNS
query, CloudWatch JSON) in process, validation on against off (`EmbeddedAws(validation=False)`),
and prints the ratio. Exit status 0 either way: this is a measurement.
"""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from typing import Any

import boto3
import pytest

from emulator import validation
from emulator.inprocess import EmbeddedAws

DEFAULT_TESTS = ["-q", "-p", "no:cacheprovider", "tests/e2e/test_canary.py"]
ROUNDS = 300


def _suite_share(args: list[str]) -> None:
    before = validation.STATS.checked, validation.STATS.seconds
    started = time.perf_counter()
    pytest.main(args)
    wall = time.perf_counter() - started
    checked = validation.STATS.checked - before[0]
    seconds = validation.STATS.seconds - before[1]
    print(f"\ntests: {' '.join(args)}")
    print(f"  requests validated     {checked:>10,}")
    print(
        f"  seconds validating     {seconds:>10.2f}  ({1000 * seconds / max(checked, 1):.3f} ms each)"
    )
    print(f"  wall time of the run   {wall:>10.2f}")
    print(f"  validator share        {seconds / wall:>10.2%}")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _mix(rounds: int, *, validation_on: bool) -> float:
    with EmbeddedAws(validation=validation_on):
        lam, sfn = boto3.client("lambda"), boto3.client("stepfunctions")
        sns, cloudwatch = boto3.client("sns"), boto3.client("cloudwatch")
        role = boto3.client("iam").create_role(
            RoleName="bench", AssumeRolePolicyDocument=json.dumps({"Statement": []})
        )["Role"]["Arn"]
        arn = lam.create_function(
            FunctionName="bench",
            Runtime="python3.12",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": _zip()},
        )["FunctionArn"]
        topic = sns.create_topic(Name="bench")["TopicArn"]
        calls: list[Any] = [
            lambda: lam.get_function(FunctionName=arn),
            lambda: lam.list_tags(Resource=arn),
            lambda: lam.get_runtime_management_config(FunctionName=arn),
            lambda: lam.list_functions(MaxItems=50),
            lambda: sfn.list_state_machines(),
            lambda: sns.publish(TopicArn=topic, Message="m"),
            lambda: cloudwatch.describe_alarms(AlarmNames=["a"]),
        ]
        started = time.perf_counter()
        for _ in range(rounds):
            for call in calls:
                call()
        return (time.perf_counter() - started) / (rounds * len(calls))


def main(argv: list[str]) -> int:
    _suite_share(argv or DEFAULT_TESTS)
    _mix(20, validation_on=True)  # warm: models loaded, patterns compiled
    on = _mix(ROUNDS, validation_on=True)
    off = _mix(ROUNDS, validation_on=False)
    print(f"\ncall mix ({ROUNDS} rounds of 7 calls, in process)")
    print(f"  validation on          {1000 * on:>10.3f} ms per call")
    print(f"  validation off         {1000 * off:>10.3f} ms per call")
    print(f"  on / off               {on / off:>10.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
