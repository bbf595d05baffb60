"""The reconciling scan on the embedded AWS: what CloudTrail detection missed, the scan finds.

The stack is deployed once for the module (synthesis is cached per process); each test works on
its own functions, with the detection rule disabled so that only the scan can see a change.
The scan runs through the deployed Scan Lambda once, and as the domain `Scanner` elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from rollforward.adapters import scanning
from rollforward.clock import utc_now
from rollforward.handlers import wiring
from rollforward.ledger import Stage
from rollforward.model import PinKey
from rollforward.ratelimit import TokenBucket
from rollforward.scan import ScanReport
from rollforward_cli.commands.scan import cycle_status, render_status

from emulator.inprocess import EmbeddedAws
from emulator.lambda_api import rollout
from emulator.stack import deploy_rollforward
from tests.e2e.conftest import TEST_POLICY
from tests.e2e.harness import ACCOUNT, REGION, Lifecycle, wait_for, wait_until_updated

# Fast enough for tests; the budget itself is exercised by bench/scan.py and the unit tests.
TEST_RATE = 500.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Lifecycle]:
    with EmbeddedAws() as aws:
        lifecycle = Lifecycle(aws, deploy_rollforward(context={"policy": TEST_POLICY}))
        scan_function = lifecycle.deployment.find("AWS::Lambda::Function", "Scan")
        variables = lifecycle.lam.get_function_configuration(FunctionName=scan_function)[
            "Environment"
        ]["Variables"]
        lifecycle.lam.update_function_configuration(
            FunctionName=scan_function,
            Environment={"Variables": {**variables, "SCAN_RATE_PER_SECOND": str(TEST_RATE)}},
        )
        rule = lifecycle.deployment.find("AWS::Events::Rule", "RuntimeConfigChanged")
        boto3.client("events").disable_rule(Name=rule)  # only the scan sees changes
        yield lifecycle


def wired_scan(stack: Lifecycle) -> scanning.WiredScan:
    """The domain Scanner wired as the Scan Lambda wires itself, from its environment.

    (Settings are built from the variables rather than by editing `os.environ`: tracking
    executions run handlers in other threads of this process, with their own environment.)
    """
    scan_function = stack.deployment.find("AWS::Lambda::Function", "Scan")
    env = stack.lam.get_function_configuration(FunctionName=scan_function)["Environment"][
        "Variables"
    ]
    settings = wiring.FunctionSettings.from_env(env)
    return scanning.wire(
        settings,
        TokenBucket(settings.scan_rate_per_second, burst=settings.scan_rate_per_second),
        lambda_client=wiring.client("lambda"),
        sfn_client=wiring.client("stepfunctions"),
        tracker=wiring.tracker(settings),
        canary_function=env.get(scanning.CANARY_FUNCTION_VARIABLE),
    )


def run_scan(stack: Lifecycle, **kwargs: Any) -> ScanReport:
    """One scan, as the Scan Lambda runs it (within its pacing)."""
    with wired_scan(stack).paced() as scanner:
        return scanner.scan(**kwargs)


def waiting(stack: Lifecycle, execution_arn: str, waits: int = 1) -> None:
    """Wait until the execution has entered its `waits`-th Wait state: it is idle until the
    clock moves (and stopping one that has only just started races moto's interpreter)."""

    def idle() -> bool:
        events = stack.sfn.get_execution_history(executionArn=execution_arn)["events"]
        return sum(e["type"] == "WaitStateEntered" for e in events) >= waits

    wait_for(idle, what=f"the execution to enter Wait state #{waits}")


def settled(stack: Lifecycle, name: str) -> None:
    """Wait until a new pin's execution has sent its day-0 notice (checking the live setting
    first: a change made before that is seen by the execution, not by the scan) and waits for
    the next rung: Wait #1 is the day-0 rung, already due; Wait #2 is the next one."""
    waiting(stack, stack.pin_record(name).execution_arn, waits=2)


def scan(stack: Lifecycle, *, dry_run: bool = False) -> ScanReport:
    report = run_scan(stack, dry_run=dry_run)
    assert report.complete and not report.errors, report.summary()
    return report


def execution_of(stack: Lifecycle, pin_id: str) -> dict[str, Any]:
    pin = stack.ledger.get(_key(pin_id))
    assert pin is not None and pin.execution_arn
    return dict(stack.sfn.describe_execution(executionArn=pin.execution_arn))


def _key(pin_id: str) -> PinKey:
    return PinKey.from_id(pin_id)


def snapshot(stack: Lifecycle) -> tuple[Any, ...]:
    """Everything the scan may change: ledger items, executions, audit records."""
    items = sorted(
        json.dumps(item, default=str, sort_keys=True)
        for item in stack.ledger._table.scan()["Items"]
    )
    executions = sorted((e["name"], e["status"]) for e in stack.executions())
    return tuple(items), tuple(executions), len(stack.audit.read())


def test_a_function_created_pinned_is_found_by_the_scan_lambda(stack: Lifecycle) -> None:
    stack.create_function("born-pinned")
    stack.pin("born-pinned")  # the rule is disabled: no event reaches detection
    pin_id = stack.key("born-pinned").id
    assert stack.pin_record("born-pinned") is None

    response = stack.lam.invoke(
        FunctionName=stack.deployment.find("AWS::Lambda::Function", "Scan"), Payload=b"{}"
    )
    assert "FunctionError" not in response, response["Payload"].read()
    summary = json.loads(response["Payload"].read())

    assert pin_id in summary["opened"]
    assert summary["complete"] and summary["throttled"] == 0
    pin = stack.pin_record("born-pinned")
    assert pin is not None and pin.stage is Stage.TRACKING and pin.generation == 1
    assert pin.pinned_runtime_version_arn == stack.runtime_arn("born-pinned")
    assert pin.owner == "alice@example.com"
    mine = [e for e in stack.executions() if e["executionArn"] == pin.execution_arn]
    assert len(mine) == 1 and mine[0]["status"] == "RUNNING"
    scans = [r for r in stack.audit.read() if r.event == "scan" and r.pin_id is None]
    assert scans and pin_id in scans[-1].details["opened"]


def test_a_pin_lifted_while_detection_was_off_is_closed_as_lifted(stack: Lifecycle) -> None:
    stack.create_function("lifted-quietly")
    stack.pin("lifted-quietly")
    pin_id = stack.key("lifted-quietly").id
    assert pin_id in scan(stack).opened
    execution_arn = stack.pin_record("lifted-quietly").execution_arn
    settled(stack, "lifted-quietly")

    stack.lift("lifted-quietly")
    report = scan(stack)

    assert report.closed == {pin_id: "lifted"}
    assert stack.pin_record("lifted-quietly").stage is Stage.LIFTED
    wait_for(
        lambda: stack.sfn.describe_execution(executionArn=execution_arn)["status"] == "ABORTED",
        what="the tracking execution to stop",
    )


def test_a_deleted_functions_pin_is_closed_as_deleted(stack: Lifecycle) -> None:
    stack.create_function("short-lived")
    stack.pin("short-lived")
    pin_id = stack.key("short-lived").id
    assert pin_id in scan(stack).opened
    settled(stack, "short-lived")

    stack.lam.delete_function(FunctionName="short-lived")
    report = scan(stack)

    assert report.closed == {pin_id: "deleted"}
    assert stack.pin_record("short-lived").stage is Stage.DELETED


def test_a_second_scan_changes_nothing(stack: Lifecycle) -> None:
    for name in ("steady-a", "steady-b"):
        stack.create_function(name)
        stack.pin(name)
    first = scan(stack)
    assert {stack.key("steady-a").id, stack.key("steady-b").id} <= set(first.opened)
    settled(stack, "steady-a")
    settled(stack, "steady-b")
    before = snapshot(stack)

    second = run_scan(stack)

    assert (second.opened, second.closed, second.repinned) == ([], {}, [])
    assert (second.resumed, second.restarted, second.errors) == ([], {}, {})
    after = snapshot(stack)
    assert after[:2] == before[:2]  # ledger and executions untouched
    assert after[2] == before[2] + 1  # one audit record: the scan's own
    # Steady state: one GetRuntimeManagementConfig per function, one ListFunctions page; no
    # function has a published version, so no ListAliases (rollforward.scan.screening).
    assert second.calls_by_operation["GetRuntimeManagementConfig"] >= second.functions_seen
    assert "ListAliases" not in second.calls_by_operation
    assert second.calls_by_operation["ListFunctions"] == 1 + second.functions_seen // 50
    assert "ListTags" not in second.calls_by_operation


def test_a_dry_run_changes_nothing_and_predicts_the_real_run(stack: Lifecycle) -> None:
    stack.create_function("dry-new")
    stack.pin("dry-new")
    stack.create_function("dry-lifted")
    stack.pin("dry-lifted")
    scan(stack)
    settled(stack, "dry-new")
    settled(stack, "dry-lifted")
    stack.lift("dry-lifted")
    before = snapshot(stack)

    dry = scan(stack, dry_run=True)

    assert snapshot(stack) == before
    assert stack.key("dry-new").id not in dry.opened  # opened by the scan above
    assert dry.closed == {stack.key("dry-lifted").id: "lifted"}
    real = scan(stack)
    assert (real.opened, real.closed, real.restarted) == (dry.opened, dry.closed, {})


def test_a_dry_run_predicts_every_outcome_of_the_real_run_on_a_mixed_fleet(
    stack: Lifecycle,
) -> None:
    """One decision function: the dry run's prediction per qualifier equals what the real run
    then does, including a published version that carries the pin of the $LATEST it was
    published from (covered by that pin: the hand-kept copy predicted a pin there)."""

    def pinned_with_a_carried_version(name: str) -> str:
        """$LATEST pinned, a version published from it behind an alias: same runtime ARN."""
        stack.create_function(name)
        stack.pin(name)
        version = stack.lam.publish_version(FunctionName=name)["Version"]
        stack.lam.put_runtime_management_config(
            FunctionName=name,
            Qualifier=version,
            UpdateRuntimeOn="Manual",
            RuntimeVersionArn=stack.runtime_arn(name),
        )
        stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        return f"{stack.key(name).function_arn}#{version}"

    carried = pinned_with_a_carried_version("mixed-carried")
    # Already tracked, then lifted; already tracked and still pinned; never pinned.
    stack.create_function("mixed-lifted")
    stack.pin("mixed-lifted")
    stack.create_function("mixed-kept")
    stack.pin("mixed-kept")
    scan(stack)
    settled(stack, "mixed-lifted")
    settled(stack, "mixed-kept")
    stack.lift("mixed-lifted")
    stack.create_function("mixed-auto")
    # New since the last scan: a plain pin, and one whose $LATEST the same scan opens.
    stack.create_function("mixed-new")
    stack.pin("mixed-new")
    carried_new = pinned_with_a_carried_version("mixed-carried-new")
    before = snapshot(stack)

    dry = run_scan(stack, dry_run=True)

    assert snapshot(stack) == before
    real = run_scan(stack)

    def outcomes(report: ScanReport) -> tuple[Any, ...]:
        assert report.complete and not report.errors, report.summary()
        return (
            sorted(report.opened),
            report.closed,
            sorted(report.repinned),
            sorted(report.resumed),
            report.pinned_qualifiers,
        )

    assert outcomes(dry) == outcomes(real)
    for version_id in (carried, carried_new):  # covered by the $LATEST pin
        assert version_id not in real.opened and stack.ledger.get(_key(version_id)) is None
    assert real.closed == {stack.key("mixed-lifted").id: "lifted"}
    assert sorted(real.opened) == sorted(
        [stack.key("mixed-new").id, stack.key("mixed-carried-new").id]
    )


def test_an_open_pin_whose_execution_was_stopped_gets_tracking_restarted(stack: Lifecycle) -> None:
    stack.create_function("orphaned-execution")
    stack.pin("orphaned-execution")
    pin_id = stack.key("orphaned-execution").id
    scan(stack)
    settled(stack, "orphaned-execution")
    first = stack.pin_record("orphaned-execution")
    stack.sfn.stop_execution(executionArn=first.execution_arn, error="operator", cause="test")
    wait_for(lambda: execution_of(stack, pin_id)["status"] == "ABORTED", what="the stop")

    dry = scan(stack, dry_run=True)
    assert pin_id in dry.restarted and stack.pin_record("orphaned-execution") == first
    report = scan(stack)

    assert list(report.restarted) == [pin_id]
    pin = stack.pin_record("orphaned-execution")
    assert pin.generation == first.generation and pin.first_seen == first.first_seen
    assert pin.execution_arn == report.restarted[pin_id]
    assert pin.execution_arn.endswith(f"{first.execution_name}-r1")
    execution = execution_of(stack, pin_id)
    assert execution["status"] == "RUNNING"
    assert json.loads(execution["input"])["generation"] == pin.generation

    # Stopped again: a fresh name again, never a dead one reused; then nothing left to do.
    waiting(stack, pin.execution_arn)
    stack.sfn.stop_execution(executionArn=pin.execution_arn)
    wait_for(lambda: execution_of(stack, pin_id)["status"] == "ABORTED", what="the stop")
    assert scan(stack).restarted[pin_id].endswith(f"{first.execution_name}-r2")
    assert scan(stack).restarted == {}


def test_published_versions_pinned_behind_an_alias_are_found(stack: Lifecycle) -> None:
    stack.create_function("versioned")
    stable = stack.lam.publish_version(FunctionName="versioned")["Version"]
    stack.lam.update_function_configuration(FunctionName="versioned", Description="v2")
    wait_until_updated(stack.lam, "versioned")
    canary = stack.lam.publish_version(FunctionName="versioned")["Version"]
    stack.lam.create_alias(
        FunctionName="versioned",
        Name="live",
        FunctionVersion=stable,
        RoutingConfig={"AdditionalVersionWeights": {canary: 0.1}},
    )
    for version in (stable, canary):
        arn = stack.lam.get_function_configuration(FunctionName="versioned", Qualifier=version)[
            "RuntimeVersionConfig"
        ]["RuntimeVersionArn"]
        stack.lam.put_runtime_management_config(
            FunctionName="versioned",
            Qualifier=version,
            UpdateRuntimeOn="Manual",
            RuntimeVersionArn=arn,
        )
    function_arn = stack.key("versioned").function_arn
    # AWS releases a newer version and rolls Auto functions onto it: the pins fall behind (a
    # pin on the newest version has nothing to roll forward to: rollforward.scan.screening).
    stack.aws.state.catalog.release("python3.12", "us-east-1")
    rollout("us-east-1", "python3.12")

    report = scan(stack)

    assert {f"{function_arn}#{stable}", f"{function_arn}#{canary}"} <= set(report.opened)
    assert f"{function_arn}#$LATEST" not in report.opened  # $LATEST itself is not pinned
    assert stack.ledger.get(_key(f"{function_arn}#{stable}")).stage is Stage.TRACKING
    # ListAliases (its versions are outliers), 3 settings, ListTags
    assert report.calls_by_function["versioned"] >= 4


def test_a_failed_pin_still_pinned_resumes_on_the_same_generation(stack: Lifecycle) -> None:
    stack.create_function("tripped")
    stack.pin("tripped")
    pin_id = stack.key("tripped").id
    scan(stack)
    settled(stack, "tripped")
    # What RecordFailure leaves behind: the pin FAILED (closed), its execution ended.
    failed = stack.ledger.update(
        stack.pin_record("tripped"), utc_now(), stage=Stage.FAILED, outcome={"result": "failed"}
    )
    stack.sfn.stop_execution(executionArn=failed.execution_arn, error="rollforward.Failed")
    wait_for(lambda: execution_of(stack, pin_id)["status"] == "ABORTED", what="the stop")

    report = scan(stack)

    assert report.resumed == [pin_id] and list(report.restarted) == [pin_id]
    assert report.opened == []  # not a new episode
    pin = stack.pin_record("tripped")
    assert pin.stage is Stage.TRACKING and pin.outcome == {}
    assert (pin.generation, pin.first_seen, pin.notices) == (
        failed.generation,
        failed.first_seen,
        failed.notices,
    )
    assert execution_of(stack, pin_id)["status"] == "RUNNING"


def test_out_of_time_the_scan_stops_between_functions_and_says_where(stack: Lifecycle) -> None:
    stack.create_function("late-pinned")
    ticks = iter(range(1_000_000))
    wired = wired_scan(stack)
    wired.scanner.clock = lambda: float(next(ticks))  # one second passes per clock read

    with wired.paced() as timed:
        report = timed.scan(time_budget_seconds=4)

    assert not report.complete
    assert 0 < report.functions_seen < len(stack.lam.list_functions()["Functions"])
    assert report.resume_marker == ""  # still on the first page: continue from the start
    assert report.restarted == {} and report.closed == {}


def test_the_scan_machine_runs_a_cycle_over_its_targets(stack: Lifecycle) -> None:
    """The hourly schedule's target: Plan → a Distributed Map child per (account, region) →
    Report, every phase reached, the cycle's coverage in its output (rollforward.scan.cycle)."""
    stack.create_function("cycled")
    stack.pin("cycled")
    machine = stack.deployment.find("AWS::StepFunctions::StateMachine", "ScanCycle")
    started = stack.sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]

    def ended() -> dict[str, Any] | None:
        described = stack.sfn.describe_execution(executionArn=started)
        return None if described["status"] == "RUNNING" else dict(described)

    described = wait_for(ended, timeout=120, what="the scan cycle")

    assert described["status"] == "SUCCEEDED", described
    report = json.loads(described["output"])
    assert (report["targets"], report["targets_complete"], report["targets_failed"]) == (1, 1, [])
    assert report["cycle"]["full"] is True and report["invocations"] >= 1
    assert report["still_running"] == ""  # Plan listed its machine's running cycles: none earlier
    assert report["functions_seen"] >= 1 and report["throttled"] == 0
    assert stack.pin_record("cycled") is not None  # found by the child, tracked

    # `rollforward scan --status` reads it back from Step Functions alone.
    status = cycle_status(stack.sfn, machine)
    assert status["running"] is None
    last = status["last"]
    assert (last["execution_arn"], last["status"], last["coverage"]) == (started, "SUCCEEDED", 1.0)
    (line,) = last["report"]["per_target"]
    assert line["target"] == f"{ACCOUNT}/{REGION}" and line["complete"] is True
    text = render_status(status)
    assert "100% (1 of 1 targets, every phase)" in text
    assert f"{ACCOUNT}/{REGION}" in text.splitlines()[-1]


def test_a_report_of_a_cycle_started_before_records_folds_the_results_it_carries(
    stack: Lifecycle,
) -> None:
    """A cycle started on the definition before children recorded their outcomes (a deploy
    mid-cycle) hands Report the Map's results in `$.results`: they are folded, not taken for
    a cycle in which nothing recorded."""
    scan = stack.deployment.find("AWS::Lambda::Function", "Scan")
    cycle = {"id": "2026-12-03T12:00:00Z", "full": True}
    target = {"account": ACCOUNT, "region": REGION}
    state = {
        "cycle": cycle,
        "targets": [target],
        "results": [{"cycle": cycle, "target": target, "complete": True, "functions_seen": 4}],
    }
    envelope = {"action": "report", "state": state, "execution": "", "started_at": ""}

    response = stack.lam.invoke(FunctionName=scan, Payload=json.dumps(envelope).encode())
    report = json.loads(response["Payload"].read())

    assert "FunctionError" not in response, report
    assert (report["targets"], report["targets_complete"], report["functions_seen"]) == (1, 1, 4)
