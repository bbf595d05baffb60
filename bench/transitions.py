"""State transitions of one remediation, against the cost target.

Run: `.venv/bin/python -m bench.transitions` (about 30 s: CDK synthesis, then ~190,000 simulated
invocations on virtual time).

Scenario: the in-process embedded AWS, the rollforward stack deployed from the CDK app with its
default policy (ladder: detected day 0, reminder day 3, team day 7, approval day 14; canary
5 % → 25 % → 50 %, 10-minute bakes, 15-minute post-promotion bake). One function serving
through alias `live` is pinned; AWS releases a healthy runtime version; the clock runs the four
rungs; an on-call engineer approves; every bake gets enough traffic through the alias for the
candidate's share to pass the judge at the first bake (no extensions); promote, verify, resolved.

Counted from the execution history: `*StateEntered` events — what Step Functions Standard bills
as state transitions ($0.025 per 1,000) — and all history events (an execution may hold at most
25,000). Task retries would add transitions; this run has none. Printed: the count against the
target (<= 40) and as a ratio, the states that dominate, the cost per remediation, and per month
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

TARGET_TRANSITIONS = 40
PRICE_PER_TRANSITION = 0.025 / 1000
MAX_HISTORY_EVENTS = 25_000
FLEET = 10_000
PINNED_SHARE = 0.02
EPISODES_PER_PINNED_FUNCTION_PER_MONTH = 1.0
# ~3,000 error-free candidate invocations pass the judge's one-sided test at 0.1 pp.
CANDIDATE_INVOCATIONS_PER_BAKE = 3600
POST_PROMOTION_RPS = 20
NAME = "checkout"


def run_lifecycle() -> tuple[list[dict[str, Any]], str, float]:
    """One pin from detection to resolution; returns its execution history, status, wall s."""
    started = time.monotonic()
    with EmbeddedAws() as aws:
        lifecycle = Lifecycle(aws, deploy_rollforward())
        policy = Policy.default()
        lifecycle.create_function(NAME)
        lifecycle.pin(NAME)
        baseline = lifecycle.lam.publish_version(FunctionName=NAME)["Version"]
        lifecycle.lam.create_alias(FunctionName=NAME, Name="live", FunctionVersion=baseline)
        wait_for(lambda: lifecycle.pin_record(NAME), what="the ledger item")
        aws.state.catalog.release("python3.12", "us-east-1")
        approval_day = policy.escalation.approval_stage.offset / timedelta(days=1)
        lifecycle.advance(approval_day + 0.2, settle=lambda: lifecycle.pending_approval(NAME))
        approve_pending(lifecycle, NAME, Principal("oncall-bench"))
        bake = policy.canary.bake
        for _ in range(12):
            lifecycle.settle()
            pin = lifecycle.pin_record(NAME)
            if pin is None or not pin.is_open:
                break
            alias = lifecycle.lam.get_alias(FunctionName=NAME, Name="live")
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            if weights:
                weight = float(next(iter(weights.values())))
                rps = CANDIDATE_INVOCATIONS_PER_BAKE / (bake.total_seconds() * weight)
            else:
                rps = POST_PROMOTION_RPS
            generate_traffic(NAME, "live", rps, bake)
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
        f"one remediation (default policy, 4 rungs, 3-step canary), execution {status}, {seconds:.0f} s wall"
    )
    print(f"  state transitions (*StateEntered): {transitions}   target <= {TARGET_TRANSITIONS}")
    print(
        f"  ratio to target: {transitions / TARGET_TRANSITIONS:.2f}   {'WITHIN' if transitions <= TARGET_TRANSITIONS else 'OVER'}"
    )
    print(
        f"  history events: {len(history)} of {MAX_HISTORY_EVENTS:,} allowed ({len(history) / MAX_HISTORY_EVENTS:.2%}); failed task attempts: {retries}"
    )
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
