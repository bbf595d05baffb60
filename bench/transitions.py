"""State transitions of one remediation, against the cost target.

Run: `.venv/bin/python -m bench.transitions` (about 30 s: CDK synthesis, then ~100,000 simulated
invocations on virtual time).

Scenario: the in-process embedded AWS, the rollforward stack deployed from the CDK app with its
default policy (ladder: detected day 0, reminder day 3, team day 7, approval day 14; canary
5 % → 25 % → 50 % judged by the sequential judge, looks every 5 minutes, 15-minute
post-promotion bake). One busy function serving through alias `live` (50 requests/s, 0.1 %
errors on both runtimes: a healthy candidate, not an error-free one) is pinned; AWS releases a
healthy runtime version; the clock runs the four rungs; an on-call engineer approves; the
traffic runs on, one look interval at a time, whatever the weight; the judge passes the
candidate at the look where its evidence suffices; promote, verify, resolved.

Counted from the execution history: `*StateEntered` events — what Step Functions Standard bills
as state transitions ($0.025 per 1,000) — and all history events (an execution may hold at most
25,000). Task retries would add transitions; this run has none. Printed: the count against the
target (<= 60, issue 11) and as a ratio, the looks, the states that dominate, the cost per
remediation, and per month
for a fleet of 10,000 functions of which 2 % are pinned, assuming each pinned function goes
through one remediation episode a month (200 episodes) — and the same at 10x, a fleet where
pins churn weekly and some episodes loop through a rejection or a rollback. Exit status 0 either
way: this is a measurement.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from rollforward.ledger import Stage
from rollforward.policy import Policy

from emulator.inprocess import EmbeddedAws
from emulator.scenario import Lifecycle, Principal, approve_pending, wait_for
from emulator.stack import deploy_rollforward
from emulator.traffic import generate_traffic

TARGET_TRANSITIONS = 60
PRICE_PER_TRANSITION = 0.025 / 1000
MAX_HISTORY_EVENTS = 25_000
FLEET = 10_000
PINNED_SHARE = 0.02
EPISODES_PER_PINNED_FUNCTION_PER_MONTH = 1.0
# A busy function (~4.3 million invocations a day), healthy on both runtimes.
RPS = 50.0
ERROR_RATE = 0.001
POST_PROMOTION_RPS = 20
NAME = "checkout"


def run_lifecycle() -> tuple[list[dict[str, Any]], str, float]:
    """One pin from detection to resolution; returns its execution history, status, wall s."""
    started = time.monotonic()
    with EmbeddedAws() as aws:
        lifecycle = Lifecycle(aws, deploy_rollforward())
        policy = Policy.default()
        aws.state.catalog.release("python3.12", "us-east-1", error_rate=ERROR_RATE)
        lifecycle.create_function(NAME)
        lifecycle.pin(NAME)
        baseline = lifecycle.lam.publish_version(FunctionName=NAME)["Version"]
        lifecycle.lam.create_alias(FunctionName=NAME, Name="live", FunctionVersion=baseline)
        wait_for(lambda: lifecycle.pin_record(NAME), what="the ledger item")
        aws.state.catalog.release("python3.12", "us-east-1", error_rate=ERROR_RATE)
        approval_day = policy.escalation.approval_stage.offset / timedelta(days=1)
        lifecycle.advance(approval_day + 0.2, settle=lambda: lifecycle.pending_approval(NAME))
        approve_pending(lifecycle, NAME, Principal("oncall-bench"))
        look = policy.canary.look_interval
        for _ in range(40):
            lifecycle.settle()
            pin = lifecycle.pin_record(NAME)
            if pin is None or not pin.is_open:
                break
            alias = lifecycle.lam.get_alias(FunctionName=NAME, Name="live")
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            generate_traffic(NAME, "live", RPS if weights else POST_PROMOTION_RPS, look)
        lifecycle.settle()
        pin = lifecycle.pin_record(NAME)
        assert pin is not None and pin.stage is Stage.RESOLVED, f"not resolved: {pin and pin.stage}"
        execution = lifecycle.executions()[0]
        history = lifecycle.sfn.get_execution_history(executionArn=execution["executionArn"])[
            "events"
        ]
        status = str(
            lifecycle.sfn.describe_execution(executionArn=execution["executionArn"])["status"]
        )
    return list(history), status, time.monotonic() - started


def report(
    history: list[dict[str, Any]], status: str, seconds: float, episodes_per_month: float
) -> None:
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")
    ]
    transitions = len(entered)
    per_state = Counter(entered)
    retries = sum(e["type"] == "TaskFailed" for e in history)
    cost = transitions * PRICE_PER_TRANSITION
    pinned = FLEET * PINNED_SHARE
    episodes = pinned * episodes_per_month

    print(
        f"one remediation (default policy, 4 rungs, sequential canary 5%→25%→50% at {RPS:g} req/s), "
        f"execution {status}, {seconds:.0f} s wall"
    )
    print(f"  state transitions (*StateEntered): {transitions}   target <= {TARGET_TRANSITIONS}")
    print(
        f"  ratio to target: {transitions / TARGET_TRANSITIONS:.2f}   {'WITHIN' if transitions <= TARGET_TRANSITIONS else 'OVER'}"
    )
    print(
        f"  history events: {len(history)} of {MAX_HISTORY_EVENTS:,} allowed ({len(history) / MAX_HISTORY_EVENTS:.2%}); failed task attempts: {retries}"
    )
    print(f"  canary looks (JudgeStep): {per_state.get('JudgeStep', 0)}")
    print("  transitions by state:")
    for state, count in per_state.most_common():
        print(f"    {state:<24} {count:>3}")
    print(f"  cost per remediation: {transitions} x $0.025/1,000 = ${cost:.6f}")
    print(
        f"fleet: {FLEET:,} functions, {PINNED_SHARE:.0%} pinned = {pinned:.0f} pinned functions; "
        f"assumption: {episodes_per_month:g} pin episode per pinned function per month = {episodes:.0f} remediations/month"
    )
    print(f"  per month: {episodes:.0f} x ${cost:.6f} = ${episodes * cost:.4f}")
    print(
        f"  at 10x ({episodes * 10:.0f} remediations/month, or loops through rejections/rollbacks): ${episodes * cost * 10:.4f}"
    )
    if transitions > TARGET_TRANSITIONS:
        top = ", ".join(f"{state} x{count}" for state, count in per_state.most_common(4))
        print(f"  OVER TARGET: dominated by {top}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--episodes-per-month",
        type=float,
        default=EPISODES_PER_PINNED_FUNCTION_PER_MONTH,
        help="remediation episodes per pinned function per month (default 1)",
    )
    args = parser.parse_args()
    history, status, seconds = run_lifecycle()
    report(history, status, seconds, args.episodes_per_month)


if __name__ == "__main__":
    main()
