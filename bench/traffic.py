"""How fast the emulator's invocation traffic runs: a bake window on virtual time.

Run: `.venv/bin/python -m bench.traffic [--rps 10] [--minutes 10] [--rounds 3]` (seconds).

Scenario: the in-process embedded AWS; one fleet function behind an alias weighted 50/50
between a healthy version and one on a broken runtime version (5% errors), as in a canary's
bake. `generate_traffic` drives `--rps` for `--minutes` of virtual time (10 x 10 min = 6,000
invocations: every one routed by the alias weights, counted into per-minute AWS/Lambda
metrics, the INIT_START lines written). Printed per round and as the best of the rounds:
real seconds, invocations per real second, and the speed-up over real time (virtual seconds
per real second), the figure the e2e tier's bakes rest on. Exit status 0: a measurement.

(The claim used to be a timed assert in tests/emulator/test_traffic.py; the house keeps speed
claims here, where load on the machine cannot fail a test.)
"""

from __future__ import annotations

import argparse
import io
import time
import zipfile
from datetime import timedelta

import boto3

from emulator.inprocess import EmbeddedAws
from emulator.scenario import wait_until_updated
from emulator.state import STATE
from emulator.traffic import generate_traffic

REGION = "us-east-1"
RUNTIME = "python3.12"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def _weighted_function() -> None:
    lam = boto3.client("lambda", region_name=REGION)
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="fleet", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="orders",
        Runtime=RUNTIME,
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )
    versions = []
    for touch in ("baseline", "candidate"):
        if touch == "candidate":
            STATE.catalog.release(RUNTIME, REGION, error_rate=0.05, duration_p99_ms=400.0)
        lam.update_function_configuration(
            FunctionName="orders", Environment={"Variables": {"TOUCH": touch}}
        )
        wait_until_updated(lam, "orders")
        versions.append(lam.publish_version(FunctionName="orders")["Version"])
    lam.create_alias(
        FunctionName="orders",
        Name="live",
        FunctionVersion=versions[0],
        RoutingConfig={"AdditionalVersionWeights": {versions[1]: 0.5}},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.traffic")
    parser.add_argument("--rps", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    window = timedelta(minutes=args.minutes)
    best = float("inf")
    invocations = 0
    with EmbeddedAws():
        _weighted_function()
        for round_number in range(1, args.rounds + 1):
            started = time.perf_counter()
            summary = generate_traffic("orders", "live", args.rps, window)
            seconds = time.perf_counter() - started
            invocations = summary.invocations
            best = min(best, seconds)
            print(
                f"round {round_number}: {invocations:,} invocations ({summary.errors:,} "
                f"errors) in {seconds:.2f} s "
                f"({invocations / seconds:,.0f}/s, {window.total_seconds() / seconds:,.0f}x "
                "real time)"
            )
    print(
        f"best: {best:.2f} s for {invocations:,} invocations: {invocations / best:,.0f} "
        f"invocations per second, {window.total_seconds() / best:,.0f}x real time"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
