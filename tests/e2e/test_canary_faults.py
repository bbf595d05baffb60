"""The canary's safety invariant under faults (docs/design.md §2, issue 4).

Whatever fails, a function ends either promoted and verified (alias 100% on the candidate,
`$LATEST` and the candidate Auto, ledger RESOLVED) or exactly as it was (alias 100% on the
baseline with no weights, `$LATEST` Manual on the original ARN, ledger open and tracking again —
or closed as lifted / deleted when a human did that). Never a weighted alias left behind, never
a `$LATEST` left in FunctionUpdate, never a ledger stuck in CANARY.

Each case runs the real deployed lifecycle (CDK-synthesized state machine, handlers in process)
with AWS answering as it does under stress: `emulator.faults` makes chosen Lambda, CloudWatch or
SNS calls fail (429 with Retry-After, 500, 409) or lets a "human" act at a precise moment.
Step Functions' retry intervals pass on the virtual clock and botocore's backoff is skipped, so a
storm costs no wall time. All cases share one deployment; each has its own function.
Fault sizes, against the two layers of retry the canary has:

    x3     fewer than one call's botocore retries (9 sends a call, adaptive mode): absorbed
    x12    more than one call's retries: the task fails and Step Functions retries it (409s are
           not retried by botocore, so x2 already needs a task retry)
    storm  every call fails until the step has given up (its 7 attempts; how many sends that
           is depends on botocore's retry quota, 14 per 5xx retry, 5 per throttle): the state
           machine's Catch runs Rollback, and the storm ends as Rollback is invoked

The matrix is a representative subset of fault x step (the full product is ~150 runs): every
step sees a storm it survives and one it does not, each error kind appears at several steps,
and every human intervention is tried at the moment it is most dangerous. The table of cases
and outcomes is printed at the end and written to `artifacts/canary-faults.txt`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from rollforward.adapters.dynamodb_locks import lock_id
from rollforward.handlers import wiring
from rollforward.ledger import Stage
from rollforward.model import PinKey

from emulator import faults
from emulator.inprocess import EmbeddedAws
from emulator.stack import deploy_rollforward
from emulator.traffic import generate_traffic
from tests.e2e.harness import (
    Lifecycle,
    Principal,
    approve_pending,
    wait_for,
    wait_until_updated,
)

ALIAS = "live"
BAKE = timedelta(minutes=10)
STEPS = (0.4, 0.6, 0.8)  # three shifts; wider than the default 5% so a pass needs less traffic
# A pass needs ~3,000 candidate invocations with no errors (the judge's one-sided test at 0.1 pp).
CANDIDATE_INVOCATIONS_PER_BAKE = 3300
ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "canary-faults.txt"

# Approval is requested at once (one rung), so each case reaches the canary in a second.
FAULT_POLICY: dict[str, Any] = {
    "escalation": {"stages": [{"name": "approval", "offset": "0d", "audience": "oncall"}]},
    "approval": {
        "allowed_approvers": ["arn:aws:iam::*:user/oncall-*"],
        "separation_of_duties": True,
        "approval_timeout": "1d",
        "reject_snooze": "3d",
    },
    # The bake counts below are the fixed-horizon judge's (one verdict per bake); the
    # sequential judge's own fault cases are on the unit tier (test_canary.py).
    "canary": {
        "steps": list(STEPS),
        "min_invocations": 200,
        "max_extensions": 1,
        "judge": "fixed_horizon",
    },
}

# Where a case arms its fault: the state the execution is parked in when the test arms it, and
# how many times that state was entered (Bake 2 = after the second shift).
APPROVAL = ("RequestApproval", 1)
BAKE_1, BAKE_2, BAKE_3 = ("Bake", 1), ("Bake", 2), ("Bake", 3)
POST_BAKE = ("PostPromotionBake", 1)


# ------------------------------------------------------------------------------------ world
@dataclass
class Run:
    """One case: its own function (`name`, alias `live` on `baseline`) and its execution."""

    lifecycle: Lifecycle
    approver: Principal
    name: str
    baseline: str = ""
    pinned_arn: str = ""
    hotfix: str = ""  # a version a "human" published and pointed the alias at
    repaired: bool = False  # the execution was stopped and the scan repaired what it left

    @property
    def lam(self) -> Any:
        return self.lifecycle.lam

    def execution(self) -> dict[str, Any]:
        pin = self.lifecycle.pin_record(self.name)
        assert pin is not None and pin.execution_arn
        return dict(self.lifecycle.sfn.describe_execution(executionArn=pin.execution_arn))

    def history(self) -> list[dict[str, Any]]:
        arn = self.execution()["executionArn"]
        return list(self.lifecycle.sfn.get_execution_history(executionArn=arn)["events"])

    def states_entered(self) -> list[str]:
        return _states(self.history())

    def candidate_weight(self) -> float:
        alias = self.lam.get_alias(FunctionName=self.name, Name=ALIAS)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        if weights:
            return float(next(iter(weights.values())))
        return 0.0 if alias["FunctionVersion"] == self.baseline else 1.0

    # "Humans"
    def human_moves_alias(self) -> None:
        lam = boto3.client("lambda")
        lam.update_function_configuration(FunctionName=self.name, Description="hotfix")
        wait_until_updated(lam, self.name)
        self.hotfix = lam.publish_version(FunctionName=self.name)["Version"]
        lam.update_alias(
            FunctionName=self.name,
            Name=ALIAS,
            FunctionVersion=self.hotfix,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )

    def human_promotes_by_hand(self) -> None:
        """Points the alias 100% at the canary's candidate (satisfied early): never undone."""
        pin = self.lifecycle.pin_record(self.name)
        assert pin is not None
        self.hotfix = str(pin.evidence["canary_in_flight"]["candidate_version"])
        boto3.client("lambda").update_alias(
            FunctionName=self.name,
            Name=ALIAS,
            FunctionVersion=self.hotfix,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )

    def human_lifts_pin(self) -> None:
        boto3.client("lambda").put_runtime_management_config(
            FunctionName=self.name, UpdateRuntimeOn="Auto"
        )

    def human_repins(self) -> None:
        """Pins `$LATEST` by hand on the newest runtime (the one the canary is testing)."""
        newest = self.lifecycle.aws.state.catalog.latest("python3.12", "us-east-1", "x86_64").arn
        boto3.client("lambda").put_runtime_management_config(
            FunctionName=self.name, UpdateRuntimeOn="Manual", RuntimeVersionArn=newest
        )

    def human_deletes_function(self) -> None:
        boto3.client("lambda").delete_function(FunctionName=self.name)

    def operator_stops_execution_then_scan(self) -> None:
        """StopExecution mid-canary (the execution ends ABORTED wherever it is parked), then
        the next scheduled scan finds the canary's record and has the canary roll it back."""
        lifecycle = self.lifecycle
        arn = self.execution()["executionArn"]
        lifecycle.sfn.stop_execution(executionArn=arn, error="operator", cause="stopped by hand")
        wait_for(
            lambda: lifecycle.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED",
            what="the stop",
        )
        scan = lifecycle.deployment.find("AWS::Lambda::Function", "Scan")
        response = lifecycle.lam.invoke(FunctionName=scan, Payload=b"{}")
        summary = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, summary
        pin = lifecycle.pin_record(self.name)
        assert pin is not None and summary["restored"] == [pin.key.id], summary
        self.repaired = True


def _states(history: list[dict[str, Any]]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")
    ]


def _backoff(history: list[dict[str, Any]]) -> timedelta:
    """How long the RollbackBackoff Wait the execution is parked in lasts (its input's plan;
    the fallback Wait's hour when RollbackFailed itself failed)."""
    entered = [e for e in history if e["type"] == "WaitStateEntered"]
    details = entered[-1]["stateEnteredEventDetails"]
    retry = json.loads(details.get("input") or "{}").get("rollback_retry") or {}
    if details["name"] == "RollbackBackoff" and retry:
        return timedelta(seconds=int(retry["wait_seconds"]))
    return timedelta(hours=1)


def _canary_reasons(history: list[dict[str, Any]]) -> str:
    """What the canary said at each step (its verdicts and its reason): why a case went astray."""
    said: list[str] = []
    for event in history:
        if event["type"] != "TaskStateExited":
            continue
        output = json.loads(event["stateExitedEventDetails"].get("output") or "{}")
        canary = output.get("canary") or {}
        verdicts = [v.get("outcome") for v in canary.get("verdicts") or []]
        said.append(
            f"{event['stateExitedEventDetails']['name']}: next={canary.get('next')} "
            f"reason={canary.get('reason')!r} verdicts={verdicts}"
        )
    return "; ".join(said)


def _parked_at(states: list[str]) -> tuple[str, int]:
    last = states[-1] if states else ""
    return last, states.count(last)


def _canary_over(execution: dict[str, Any], states: list[str]) -> bool:
    """Out of the canary: the execution ended, or is back on the ladder after it."""
    if execution["status"] != "RUNNING":
        return True
    return "StartCanary" in states and states[-1] in {
        "WaitForApprovalStage",
        "RequestApproval",
        "WaitForStage",
    }


@pytest.fixture(scope="module")
def fault_table(request: pytest.FixtureRequest) -> Iterator[list[dict[str, str]]]:
    rows: list[dict[str, str]] = []
    yield rows
    text = render_table(rows)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(text + "\n")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # printed even when output is captured
            reporter.write_line("")
            for line in text.splitlines():
                reporter.write_line(line)
            reporter.write_line(f"(written to {ARTIFACT.relative_to(ARTIFACT.parents[1])})")


@dataclass(frozen=True)
class World:
    lifecycle: Lifecycle
    approver: Principal


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One deployment for the whole matrix (a case is one function in it); retries on the
    virtual clock for as long as it lives."""
    with faults.retries_on_virtual_clock(), EmbeddedAws() as aws:
        # The scan the "stopped" cases run lists every case's function so far: at the default
        # 3 req/s that is half a minute of pacing each; the shared bucket's 15 req/s allows 10.
        context = {"policy": FAULT_POLICY, "scan_rate_per_second": 10}
        yield World(
            Lifecycle(aws, deploy_rollforward(context=context)),
            Principal("oncall-alice"),
        )


@pytest.fixture
def run(world: World, request: pytest.FixtureRequest) -> Iterator[Run]:
    # Each case starts on cold Lambda containers: botocore's retry quota and adaptive rate
    # limiter live on the cached clients and would otherwise carry one case's storm into the next.
    wiring._client.cache_clear()
    wiring._resource.cache_clear()
    wiring._sessions.cache_clear()
    case: Case = request.node.callspec.params["case"]
    name = f"fn-{case.id}"
    lifecycle = world.lifecycle
    catalog = lifecycle.aws.state.catalog
    # A healthy baseline runtime, whatever the last case released.
    catalog.release("python3.12", "us-east-1")
    lifecycle.create_function(name)
    lifecycle.pin(name)
    current = Run(lifecycle, world.approver, name, pinned_arn=lifecycle.runtime_arn(name))
    current.baseline = lifecycle.lam.publish_version(FunctionName=name)["Version"]
    lifecycle.lam.create_alias(FunctionName=name, Name=ALIAS, FunctionVersion=current.baseline)
    wait_for(lambda: lifecycle.pending_approval(name), what="the approval request")
    lifecycle.settle()  # the request's notice is out too: a case's fault meets only the canary
    catalog.release("python3.12", "us-east-1", error_rate=0.5 if case.broken_runtime else 0.0)
    try:
        yield current
    finally:
        faults.clear()
        execution = current.execution()
        if execution["status"] == "RUNNING":  # back on the ladder: out of the next case's way
            lifecycle.sfn.stop_execution(executionArn=execution["executionArn"], cause="case over")


# ------------------------------------------------------------------------------------ cases
Arm = Callable[[Run], object]


def fail(
    operation: str, code: str, times: int, *, service: faults.Service = "lambda", after: int = 0
) -> Arm:
    def arm(run: Run) -> faults.Fault:
        return faults.inject(
            operation,
            code,
            times,
            function=run.name if service == "lambda" else None,
            service=service,
            after=after,
        )

    return arm


def storm(
    operation: str,
    code: str,
    *,
    service: faults.Service = "lambda",
    through_rollback: timedelta | None = None,
) -> Arm:
    """Every call fails until the state machine gives the step up and invokes Rollback (or, with
    `through_rollback`, for that long on the emulated clock from arming, Rollback included)."""

    def arm(run: Run) -> faults.Fault:
        fault = faults.inject(
            operation,
            code,
            None,
            function=run.name if service == "lambda" else None,
            service=service,
        )
        if through_rollback is not None:
            clock = run.lifecycle.aws.state.clock
            until = clock.now() + through_rollback
            fault.when = lambda call: clock.now() < until
        else:
            faults.before_call("Invoke", lambda call: faults.disarm(fault), when=_invokes_rollback)
        return fault

    return arm


def _invokes_rollback(call: faults.Call) -> bool:
    try:
        return bool(json.loads(call.body).get("action") == "rollback")
    except (ValueError, AttributeError):
        return False


def human(action: Callable[[Run], None]) -> Arm:
    def arm(run: Run) -> None:
        action(run)

    return arm


def racing(operation: str, action: Callable[[Run], None], *, after: int = 0) -> Arm:
    """The human acts inside the canary's step: just before its `operation` call lands."""

    def arm(run: Run) -> faults.Fault:
        return faults.before_call(
            operation, lambda call: action(run), function=run.name, after=after
        )

    return arm


@dataclass(frozen=True)
class Case:
    id: str
    step: str
    fault: str
    at: tuple[str, int]
    arm: Arm
    expect: str  # promoted | restored | handed back | lifted | deleted
    broken_runtime: bool = False  # the candidate fails its bake: exercises Rollback itself
    marks: tuple[Any, ...] = ()


TTL = "TooManyRequestsException"
SVC = "ServiceException"
CONFLICT = "ResourceConflictException"
PUT = "PutRuntimeManagementConfig"
CW = "cloudwatch"

CASES = [
    # preflight / StartCanary (before any change)
    Case(
        "pre-429x3",
        "preflight",
        "429 x3",
        APPROVAL,
        fail("GetRuntimeManagementConfig", TTL, 3),
        "promoted",
    ),
    Case("pre-500x12", "preflight", "500 x12", APPROVAL, fail("ListAliases", SVC, 12), "promoted"),
    Case(
        "pre-429-storm",
        "preflight",
        "429 storm",
        APPROVAL,
        storm("GetRuntimeManagementConfig", TTL),
        "restored",
    ),
    # candidate creation (a retried StartCanary resumes its own half-made candidate)
    Case(
        "cand-put-409x2",
        "candidate: Put $LATEST FunctionUpdate",
        "409 x2",
        APPROVAL,
        fail(PUT, CONFLICT, 2, after=1),
        "promoted",
    ),
    Case(
        "cand-put-409-storm",
        "candidate: Put $LATEST FunctionUpdate",
        "409 storm",
        APPROVAL,
        storm(PUT, CONFLICT),
        "restored",
    ),
    Case(
        "cand-update-500x12",
        "candidate: UpdateFunctionConfiguration",
        "500 x12",
        APPROVAL,
        fail("UpdateFunctionConfiguration", SVC, 12),
        "promoted",
    ),
    Case(
        "cand-publish-429x12",
        "candidate: PublishVersion",
        "429 x12",
        APPROVAL,
        fail("PublishVersion", TTL, 12),
        "promoted",
    ),
    Case(
        "cand-publish-429-storm",
        "candidate: PublishVersion",
        "429 storm",
        APPROVAL,
        storm("PublishVersion", TTL),
        "restored",
    ),
    Case(
        "cand-publish-409-storm",
        "candidate: PublishVersion",
        "409 storm",
        APPROVAL,
        storm("PublishVersion", CONFLICT),
        "restored",
    ),
    # shifts
    Case(
        "shift1-429x12",
        "shift 1 (UpdateAlias 40%)",
        "429 x12",
        APPROVAL,
        fail("UpdateAlias", TTL, 12),
        "promoted",
    ),
    Case(
        "shift1-409-storm",
        "shift 1 (UpdateAlias 40%)",
        "409 storm",
        APPROVAL,
        storm("UpdateAlias", CONFLICT),
        "restored",
    ),
    Case(
        # The owner's "canary started" notice cannot be sent: notices are best-effort (the
        # failure is audited), so a healthy canary goes on and promotes.
        "shift1-then-notice-500-storm",
        "after shift 1 (owner notice, SNS Publish)",
        "500 storm",
        APPROVAL,
        storm("Publish", "InternalError", service="sns"),
        "promoted",
    ),
    Case(
        "shift2-500x12",
        "shift 2 (UpdateAlias 60%)",
        "500 x12",
        BAKE_1,
        fail("UpdateAlias", SVC, 12),
        "promoted",
    ),
    Case(
        "shift2-429-storm",
        "shift 2 (UpdateAlias 60%)",
        "429 storm",
        BAKE_1,
        storm("UpdateAlias", TTL),
        "restored",
    ),
    Case(
        "shift3-409x2",
        "shift 3 (UpdateAlias 80%)",
        "409 x2",
        BAKE_2,
        fail("UpdateAlias", CONFLICT, 2),
        "promoted",
    ),
    Case(
        "shift3-500-storm",
        "shift 3 (UpdateAlias 80%)",
        "500 storm",
        BAKE_2,
        storm("UpdateAlias", SVC),
        "restored",
    ),
    # judge
    Case(
        "judge-throttle-x12",
        "judge (GetMetricData)",
        "Throttling x12",
        BAKE_1,
        fail("GetMetricData", "Throttling", 12, service=CW),
        "promoted",
    ),
    Case(
        "judge-500-storm",
        "judge (GetMetricData)",
        "InternalFailure storm",
        BAKE_2,
        storm("GetMetricData", "InternalFailure", service=CW),
        "restored",
    ),
    # promote
    Case(
        "promote-alias-429x12",
        "promote (UpdateAlias 100%)",
        "429 x12",
        BAKE_3,
        fail("UpdateAlias", TTL, 12),
        "promoted",
    ),
    Case(
        "promote-alias-429-storm",
        "promote (UpdateAlias 100%)",
        "429 storm",
        BAKE_3,
        storm("UpdateAlias", TTL),
        "restored",
    ),
    Case(
        "promote-put-409x2",
        "promote (Put $LATEST Auto)",
        "409 x2",
        BAKE_3,
        fail(PUT, CONFLICT, 2, after=1),
        "promoted",
    ),
    Case(
        "promote-put-500-storm",
        "promote (Put $LATEST Auto)",
        "500 storm",
        BAKE_3,
        storm(PUT, SVC),
        "restored",
    ),
    # post-promotion verify
    Case(
        "verify-500x12",
        "verify (GetMetricData)",
        "InternalFailure x12",
        POST_BAKE,
        fail("GetMetricData", "InternalFailure", 12, service=CW),
        "promoted",
    ),
    Case(
        "verify-throttle-storm",
        "verify (GetMetricData)",
        "Throttling storm",
        POST_BAKE,
        storm("GetMetricData", "Throttling", service=CW),
        "restored",
    ),
    # rollback itself (the candidate runtime is broken, so judge 1 fails)
    Case(
        "rollback-alias-429x12",
        "rollback (UpdateAlias back)",
        "429 x12",
        BAKE_1,
        fail("UpdateAlias", TTL, 12),
        "restored",
        broken_runtime=True,
    ),
    Case(
        "rollback-put-409x2",
        "rollback (Put $LATEST Manual)",
        "409 x2",
        BAKE_1,
        fail(PUT, CONFLICT, 2),
        "restored",
        broken_runtime=True,
    ),
    Case(
        "rollback-alias-429-storm",
        "rollback (UpdateAlias back)",
        "429 storm for 3 hours",
        BAKE_1,
        storm("UpdateAlias", TTL, through_rollback=timedelta(hours=3)),
        "restored",
        broken_runtime=True,
    ),
    Case(
        # Issue 11: a GetAlias storm through Rollback left the alias weighted, ledger failed.
        "rollback-getalias-429-storm",
        "rollback (GetAlias)",
        "429 storm for 3 hours",
        BAKE_1,
        storm("GetAlias", TTL, through_rollback=timedelta(hours=3)),
        "restored",
        broken_runtime=True,
    ),
    Case(
        # Issue 11: a 500 storm on the $LATEST Put left $LATEST in FunctionUpdate.
        "rollback-put-500-storm",
        "rollback (Put $LATEST Manual)",
        "500 storm for 3 hours",
        BAKE_1,
        storm(PUT, SVC, through_rollback=timedelta(hours=3)),
        "restored",
        broken_runtime=True,
    ),
    Case(
        # Issue 11: deleted just before Rollback's UpdateAlias ended `failed`, not `deleted`.
        "rollback-alias-deleted",
        "rollback (just before UpdateAlias)",
        "function deleted",
        BAKE_1,
        racing("UpdateAlias", Run.human_deletes_function),
        "deleted",
        broken_runtime=True,
    ),
    Case(
        # Outlasts Rollback's own retries several times: RollbackBackoff -> Rollback loops.
        "rollback-alias-429-6h",
        "rollback (UpdateAlias back)",
        "429 storm for 6 hours",
        BAKE_1,
        storm("UpdateAlias", TTL, through_rollback=timedelta(hours=6)),
        "restored",
        broken_runtime=True,
    ),
    # humans
    Case(
        "human-alias-bake2",
        "bake 2",
        "alias changed by a human",
        BAKE_2,
        human(Run.human_moves_alias),
        "handed back",
    ),
    Case(
        # Issue 11: Rollback moved a human's hand-made promotion back to the baseline.
        "human-promotes-by-hand-bake2",
        "bake 2",
        "alias set 100% candidate by a human",
        BAKE_2,
        human(Run.human_promotes_by_hand),
        "handed back",
    ),
    Case(
        # Issue 11: StopExecution during the first bake left the alias weighted, ledger canary.
        "stopped-bake1",
        "bake 1",
        "execution stopped, then the scan",
        BAKE_1,
        human(Run.operator_stops_execution_then_scan),
        "restored",
    ),
    Case(
        # Promote had not recorded `promoted`: the repair left `$LATEST` on Auto.
        "stopped-postbake",
        "post-promotion bake",
        "execution stopped, then the scan",
        POST_BAKE,
        human(Run.operator_stops_execution_then_scan),
        "restored",
    ),
    Case(
        "human-lift-bake1",
        "bake 1",
        "pin lifted by a human",
        BAKE_1,
        human(Run.human_lifts_pin),
        "lifted",
    ),
    Case(
        "human-repin-bake2",
        "bake 2",
        "re-pinned by a human",
        BAKE_2,
        human(Run.human_repins),
        "handed back",
    ),
    Case(
        "human-delete-bake2",
        "bake 2",
        "function deleted",
        BAKE_2,
        human(Run.human_deletes_function),
        "deleted",
    ),
    Case(
        "human-delete-candidate",
        "candidate: PublishVersion",
        "function deleted",
        APPROVAL,
        racing("PublishVersion", Run.human_deletes_function),
        "deleted",
    ),
    Case(
        "human-alias-postbake",
        "post-promotion bake",
        "alias changed by a human",
        POST_BAKE,
        human(Run.human_moves_alias),
        "handed back",
    ),
    Case(
        "human-alias-race-shift2",
        "shift 2 (between check and UpdateAlias)",
        "alias changed by a human",
        BAKE_1,
        racing("UpdateAlias", Run.human_moves_alias),
        # UpdateAlias carries the RevisionId the canary read: Lambda answers 412, and the
        # canary hands back instead of overwriting the human's change.
        "handed back",
    ),
]


# ------------------------------------------------------------------------------------ driving
def drive(run: Run, case: Case) -> list[Any]:
    """Approve, then serve bake after bake; arm the case's fault when the execution is parked
    where the case says. Returns what was armed."""
    lifecycle = run.lifecycle
    armed: list[Any] = []
    if case.at == APPROVAL:
        armed.append(case.arm(run))
    approve_pending(lifecycle, run.name, run.approver)
    states: list[str] = []
    for _ in range(40):
        lifecycle.settle()
        states = run.states_entered()
        if run.repaired or _canary_over(run.execution(), states):
            break
        if states[-1].startswith("RollbackBackoff"):  # a storm outlasted Rollback's retries
            lifecycle.aws.state.clock.advance(_backoff(run.history()))  # wait it out
            continue
        if not armed and _parked_at(states) == case.at:
            armed.append(case.arm(run))  # parked in a Wait: the fault meets the next step
        serve_one_bake(run)
    else:
        raise AssertionError(f"the canary did not finish: {states}")
    assert armed, f"the case never reached {case.at}: {states} ({_canary_reasons(run.history())})"
    faults.clear()
    return armed


def serve_one_bake(run: Run) -> None:
    """Enough traffic through the alias for the candidate's share to pass the judge."""
    try:
        weight = run.candidate_weight()
    except ClientError:  # the function is gone: the clock still has to move on
        run.lifecycle.aws.state.clock.advance(BAKE)
        return
    if weight >= 1:
        rps = 2.0  # post-promotion: the verdict only has to find no regression
    else:
        rps = CANDIDATE_INVOCATIONS_PER_BAKE / (BAKE.total_seconds() * max(weight, STEPS[0]))
    generate_traffic(run.name, ALIAS, math.ceil(rps), BAKE)


# ------------------------------------------------------------------------------------ judging
def observe(run: Run) -> tuple[str, str]:
    """Classify the end state; returns (outcome, detail). 'VIOLATION' breaks the invariant."""
    lam, name, pin = run.lam, run.name, run.lifecycle.pin_record(run.name)
    assert pin is not None
    try:
        alias = lam.get_alias(FunctionName=name, Name=ALIAS)
        latest = lam.get_runtime_management_config(FunctionName=name, Qualifier="$LATEST")
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        if pin.stage is Stage.DELETED:
            return "deleted", "function gone, ledger closed as deleted"
        return "VIOLATION", f"function gone but ledger {pin.stage}"
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    version, mode, arn = (
        str(alias["FunctionVersion"]),
        latest["UpdateRuntimeOn"],
        latest.get("RuntimeVersionArn"),
    )
    detail = f"alias {version}{' ' + str(weights) if weights else ''}, $LATEST {mode}, ledger {pin.stage}"
    if weights:
        return "VIOLATION", "weighted alias left behind: " + detail
    if mode == "FunctionUpdate" or pin.stage in {Stage.CANARY, Stage.APPROVED, Stage.FAILED}:
        return "VIOLATION", "half-moved: " + detail
    canary = pin.evidence.get("canary") or pin.evidence.get("last_canary") or {}
    candidate = str(canary.get("candidate_version") or "")
    if pin.stage is Stage.RESOLVED:
        candidate_mode = lam.get_runtime_management_config(FunctionName=name, Qualifier=version)[
            "UpdateRuntimeOn"
        ]
        if (
            version == candidate
            and version != run.baseline
            and mode == "Auto"
            and candidate_mode == "Auto"
        ):
            return "promoted", detail
        return "VIOLATION", "resolved but not promoted: " + detail
    pinned = mode == "Manual" and arn == run.pinned_arn
    if run.hotfix and version == run.hotfix:
        if pin.is_open and mode == "Manual":
            return "handed back", detail + " (the human's alias kept)"
        return "VIOLATION", "human's alias kept but pin not tracked: " + detail
    if version != run.baseline:
        return "VIOLATION", "alias not back on the baseline: " + detail
    if pinned and pin.is_open:
        return "restored", detail
    if mode == "Manual" and pin.is_open and arn == pin.pinned_runtime_version_arn:
        return "handed back", detail + " (tracking the human's new pin)"
    if mode == "Auto" and pin.stage is Stage.LIFTED:
        return "lifted", detail
    return "VIOLATION", "not as it was: " + detail


def render_table(rows: list[dict[str, str]]) -> str:
    columns = (
        "case",
        "step",
        "fault",
        "fired",
        "expected",
        "observed",
        "path",
        "seconds",
        "detail",
    )
    widths = {
        c: max(len(c), *(len(r.get(c, "")) for r in rows)) if rows else len(c) for c in columns
    }
    widths["detail"] = min(widths["detail"], 70)
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    out = ["canary fault matrix — the invariant at the end of every run", line, "-" * len(line)]
    for row in rows:
        out.append("  ".join(row.get(c, "")[: widths[c]].ljust(widths[c]) for c in columns))
    return "\n".join(out)


def canary_path(history: list[dict[str, Any]]) -> str:
    """How the execution left the canary, and how many task attempts failed on the way."""
    names = {
        "Resolve": "resolved",
        "Rollback": "rollback",
        "RollbackBackoff": "backoff",
        "RecordFailure": "record-failure",
    }
    states = _states(history)
    seen = " > ".join(dict.fromkeys(names[s] for s in states if s in names)) or "in StartCanary"
    failed = sum(e["type"] == "TaskFailed" for e in history)
    return f"{seen} ({failed} failed attempts)" if failed else seen


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_the_invariant_holds_under_faults(
    run: Run, case: Case, fault_table: list[dict[str, str]]
) -> None:
    started = time.monotonic()
    armed = drive(run, case)
    outcome, detail = observe(run)
    injected = [a for a in armed if isinstance(a, faults.Fault)]
    fired = sum(a.fired for a in injected)
    fault_table.append(
        {
            "case": case.id,
            "step": case.step,
            "fault": case.fault,
            "fired": str(fired) if injected else "-",
            "expected": case.expect,
            "observed": outcome,
            "path": canary_path(run.history()),
            "seconds": f"{time.monotonic() - started:.1f}",
            "detail": detail,
        }
    )
    assert not injected or fired, "the fault never hit: the case tests nothing"
    assert outcome != "VIOLATION", detail
    assert outcome == case.expect, detail


# ------------------------------------------------------------------------------------ two pins
def test_two_approved_pins_of_one_function_never_run_canaries_at_once(world: World) -> None:
    """Issue 11: `$LATEST` and version 1 of one function, both pinned and approved, ran two
    canaries; the version-1 canary's rollback reset `$LATEST` mid-way through the other's.
    Now the second StartCanary is refused before any change (one canary per function, a
    conditional hold in the ledger table) and goes back to its ladder; the first promotes."""
    wiring._client.cache_clear()
    wiring._resource.cache_clear()
    wiring._sessions.cache_clear()
    lifecycle, name = world.lifecycle, "fn-two-pins"
    catalog = lifecycle.aws.state.catalog
    catalog.release("python3.12", "us-east-1")
    lam = lifecycle.lam
    # Version 1 published on runtime A and pinned there by hand; later deploys run B, published
    # as version 2 behind the alias, and `$LATEST` is pinned on B: two pins, two ARNs.
    lifecycle.create_function(name)
    first_runtime = lifecycle.runtime_arn(name)
    version_one = lam.publish_version(FunctionName=name)["Version"]
    lam.put_runtime_management_config(
        FunctionName=name,
        Qualifier=version_one,
        UpdateRuntimeOn="Manual",
        RuntimeVersionArn=first_runtime,
    )
    lifecycle.aws.state.drain()
    catalog.release("python3.12", "us-east-1")
    lam.update_function_configuration(FunctionName=name, Description="a deploy")
    wait_until_updated(lam, name)
    baseline = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name=ALIAS, FunctionVersion=baseline)
    lifecycle.pin(name)
    pinned = lifecycle.runtime_arn(name)
    assert pinned != first_runtime
    latest_id = lifecycle.key(name).id
    version_id = f"{lifecycle.key(name).function_arn}#{version_one}"

    def pending(pin_id: str) -> dict[str, Any] | None:
        items = lifecycle.approvals_table.scan()["Items"]
        found = [i for i in items if i["pin_id"] == pin_id and i["status"] == "pending"]
        return found[0] if found else None

    def approve(pin_id: str) -> None:
        approval = wait_for(lambda: pending(pin_id), what=f"the approval request of {pin_id}")
        status, body = lifecycle.decide(
            world.approver, action="approve", approval_id=approval["approval_id"], reason="go"
        )
        assert status == 200, body

    catalog.release("python3.12", "us-east-1")
    run = Run(lifecycle, world.approver, name, baseline=baseline, pinned_arn=pinned)
    approve(latest_id)
    lifecycle.settle()
    assert run.states_entered()[-1] == "Bake"  # the `$LATEST` canary is in its first bake
    before = run.lam.get_alias(FunctionName=name, Name=ALIAS)
    approve(version_id)
    lifecycle.settle()

    second = lifecycle.ledger.get(PinKey.from_id(version_id))
    assert second is not None and second.stage is Stage.TRACKING
    assert "another canary of this function is running" in second.evidence["stopped"]["reason"]
    assert run.lam.get_alias(FunctionName=name, Name=ALIAS)["RevisionId"] == before["RevisionId"]
    for _ in range(10):  # the first canary goes on, undisturbed, to promotion
        if _canary_over(run.execution(), run.states_entered()):
            break
        serve_one_bake(run)
        lifecycle.settle()
    outcome, detail = observe(run)
    assert outcome == "promoted", detail
    version = lam.get_runtime_management_config(FunctionName=name, Qualifier=version_one)
    assert (version["UpdateRuntimeOn"], version["RuntimeVersionArn"]) == ("Manual", first_runtime)
    table = boto3.resource("dynamodb").Table(
        lifecycle.deployment.find("AWS::DynamoDB::Table", "Ledger")
    )
    function_arn = lifecycle.key(name).function_arn
    assert table.get_item(Key={"pin_id": lock_id(function_arn)}).get("Item") is None  # released


# ------------------------------------------------------------------------------------ a pinned version
@pytest.mark.parametrize("regression", [False, True], ids=["healthy", "one-percent-regression"])
def test_a_pinned_version_behind_an_alias_is_promoted_or_rolled_back_exactly(
    world: World, regression: bool
) -> None:
    """Issue 11: a pin on a published version (qualifier 1) behind alias `live` was handed
    back. Now its candidate (version 1's code republished from `$LATEST` on the newest runtime)
    takes the alias's traffic in steps; promoted, the alias serves it and both versions are on
    Auto; a 1% regression is rolled back to exactly what was (version 1 Manual on its ARN)."""
    wiring._client.cache_clear()
    wiring._resource.cache_clear()
    wiring._sessions.cache_clear()
    lifecycle = world.lifecycle
    lam, name = lifecycle.lam, f"fn-version-{'regression' if regression else 'healthy'}"
    catalog = lifecycle.aws.state.catalog
    catalog.release("python3.12", "us-east-1")
    lifecycle.create_function(name)
    pinned = lifecycle.runtime_arn(name)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name=ALIAS, FunctionVersion=version)
    lam.put_runtime_management_config(
        FunctionName=name, Qualifier=version, UpdateRuntimeOn="Manual", RuntimeVersionArn=pinned
    )
    lifecycle.aws.state.drain()
    pin_id = f"{lifecycle.key(name).function_arn}#{version}"
    approval = wait_for(
        lambda: next(
            (
                i
                for i in lifecycle.approvals_table.scan()["Items"]
                if i["pin_id"] == pin_id and i["status"] == "pending"
            ),
            None,
        ),
        what="the version pin's approval request",
    )
    lifecycle.settle()
    catalog.release("python3.12", "us-east-1", error_rate=0.01 if regression else 0.0)
    status, body = lifecycle.decide(
        world.approver, action="approve", approval_id=approval["approval_id"], reason="go"
    )
    assert status == 200, body
    run = Run(lifecycle, world.approver, name, baseline=version, pinned_arn=pinned)

    def pin() -> Any:
        found = lifecycle.ledger.get(PinKey.from_id(pin_id))
        assert found is not None
        return found

    for _ in range(10):
        lifecycle.settle()
        execution = lifecycle.sfn.describe_execution(executionArn=pin().execution_arn)
        history = lifecycle.sfn.get_execution_history(executionArn=execution["executionArn"])
        states = _states(list(history["events"]))
        if _canary_over(execution, states):
            break
        serve_one_bake(run)
    canary = pin().evidence.get("canary") or pin().evidence.get("last_canary") or {}
    assert canary.get("strategy") == "version_alias", pin().evidence
    alias = lam.get_alias(FunctionName=name, Name=ALIAS)
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")

    def setting(qualifier: str) -> tuple[str, str | None]:
        got = lam.get_runtime_management_config(FunctionName=name, Qualifier=qualifier)
        return got["UpdateRuntimeOn"], got.get("RuntimeVersionArn")

    assert setting("$LATEST")[0] == "Auto"  # `$LATEST`'s own setting is never changed
    if regression:
        assert pin().stage is Stage.TRACKING and pin().is_open
        assert alias["FunctionVersion"] == version
        assert setting(version) == ("Manual", pinned)
        assert (
            "regressed" in canary["rolled_back_because"]
            or canary["verdicts"][-1]["outcome"] == "FAIL"
        )
    else:
        assert pin().stage is Stage.RESOLVED
        candidate = canary["candidate_version"]
        assert alias["FunctionVersion"] == candidate != version
        assert setting(candidate)[0] == "Auto" and setting(version)[0] == "Auto"
        in_use = lam.get_function(FunctionName=name, Qualifier=candidate)["Configuration"]
        assert (
            in_use["RuntimeVersionConfig"]["RuntimeVersionArn"] == canary["candidate_runtime_arn"]
        )
        assert canary["candidate_runtime_arn"] != pinned
        assert canary["verdicts"][-1]["step"] == "post-promotion"  # verified after promotion


@pytest.mark.parametrize("regression", [False, True], ids=["healthy", "one-percent-regression"])
def test_a_pinned_version_without_an_alias_is_promoted_or_rolled_back_exactly(
    world: World, regression: bool
) -> None:
    """Issue 11: a pin on a published version (qualifier 1) that no alias routes to — callers
    invoke `fn:1`. Its candidate (version 1's code republished from `$LATEST` on the newest
    runtime) passes the owner's test events; then version 1 itself runs the tested runtime
    version (Manual on it) through the post-promotion bake, judged on its own traffic against
    the same span before; verified, it goes Auto. A 1% regression after the move is rolled back
    to exactly what was: version 1 Manual on its original ARN, running it."""
    wiring._client.cache_clear()
    wiring._resource.cache_clear()
    wiring._sessions.cache_clear()
    lifecycle = world.lifecycle
    lam, name = lifecycle.lam, f"fn-direct-{'regression' if regression else 'healthy'}"
    catalog = lifecycle.aws.state.catalog
    catalog.release("python3.12", "us-east-1")
    arn = lifecycle.create_function(name)
    pinned = lifecycle.runtime_arn(name)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_runtime_management_config(
        FunctionName=name, Qualifier=version, UpdateRuntimeOn="Manual", RuntimeVersionArn=pinned
    )
    parameter = f"/rollforward/test-events/{name}"
    boto3.client("ssm").put_parameter(
        Name=parameter, Value=json.dumps([{"order": 1}, {"order": 2}]), Type="String"
    )
    lam.tag_resource(Resource=arn, Tags={"rollforward:test-events": parameter})
    lifecycle.aws.state.drain()
    pin_id = f"{lifecycle.key(name).function_arn}#{version}"
    approval = wait_for(
        lambda: next(
            (
                i
                for i in lifecycle.approvals_table.scan()["Items"]
                if i["pin_id"] == pin_id and i["status"] == "pending"
            ),
            None,
        ),
        what="the version pin's approval request",
    )
    lifecycle.settle()
    bake = timedelta(minutes=15)  # the policy's post-promotion bake
    generate_traffic(name, version, 4, bake)  # the window the version is compared against
    catalog.release("python3.12", "us-east-1", error_rate=0.01 if regression else 0.0)
    status, body = lifecycle.decide(
        world.approver, action="approve", approval_id=approval["approval_id"], reason="go"
    )
    assert status == 200, body

    def pin() -> Any:
        found = lifecycle.ledger.get(PinKey.from_id(pin_id))
        assert found is not None
        return found

    def setting(qualifier: str) -> tuple[str, str | None]:
        got = lam.get_runtime_management_config(FunctionName=name, Qualifier=qualifier)
        return got["UpdateRuntimeOn"], got.get("RuntimeVersionArn")

    def in_use(qualifier: str) -> str:
        config = lam.get_function(FunctionName=name, Qualifier=qualifier)["Configuration"]
        return str(config["RuntimeVersionConfig"]["RuntimeVersionArn"])

    moved_to: list[str] = []
    for _ in range(6):
        lifecycle.settle()
        execution = lifecycle.sfn.describe_execution(executionArn=pin().execution_arn)
        history = lifecycle.sfn.get_execution_history(executionArn=execution["executionArn"])
        if _canary_over(execution, _states(list(history["events"]))):
            break
        if setting(version)[0] == "Manual" and setting(version)[1] != pinned:
            moved_to.append(in_use(version))  # mid-bake: the version runs the tested runtime
        generate_traffic(name, version, 4, bake)
    canary = pin().evidence.get("canary") or pin().evidence.get("last_canary") or {}
    assert canary.get("strategy") == "version_synthetic", pin().evidence
    assert moved_to == [canary["candidate_runtime_arn"]] and moved_to[0] != pinned
    assert setting("$LATEST")[0] == "Auto"  # `$LATEST`'s own setting is never changed
    assert canary["verdicts"][-1]["step"] == "post-promotion"
    steps = [r.details for r in lifecycle.audit.read(pin_id=pin_id) if r.event == "canary_step"]
    synthetic = next(step for step in steps if step.get("step") == "synthetic")
    assert synthetic["events"] == 2 and synthetic["failures"] == []
    if regression:
        assert pin().stage is Stage.TRACKING and pin().is_open
        assert canary["verdicts"][-1]["outcome"] == "FAIL", canary["verdicts"]
        assert canary["rolled_back_because"].startswith("after promotion")
        assert setting(version) == ("Manual", pinned) and in_use(version) == pinned
    else:
        assert pin().stage is Stage.RESOLVED, pin().evidence
        assert setting(version) == ("Auto", None)
        assert in_use(version) == canary["candidate_runtime_arn"]  # Auto kept the tested one
