"""`rollforward scan --status` (cli/commands/scan.py `cycle_status`, `render_status`) on a
Step Functions client that answers as AWS does: the running cycle's Map Run counts, the last
ended cycle's report. The same reads run against the embedded AWS in tests/e2e/test_scan.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rollforward.scan.cycle import ChildFailure, ScanCycle, ScanTarget, TargetOutcome
from rollforward_cli.commands.scan import cycle_status, render_status

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:Rollforward-scan"
NOW = datetime(2026, 12, 2, 6, 0, 12, tzinfo=UTC)
EARLIER = datetime(2026, 12, 2, 5, 0, 9, tzinfo=UTC)


def _arn(name: str) -> str:
    return MACHINE.replace(":stateMachine:", ":execution:") + f":{name}"


REPORT = {
    "cycle": {"id": "2026-12-02T05:00:00Z", "full": True},
    "targets": 2,
    "targets_complete": 1,
    "targets_failed": ["222222222222/us-east-1: rollforward.Refused"],
    "functions_seen": 5000,
    "control_plane_calls": 5230,
    "throttled": 0,
    "opened": 3,
    "closed": 1,
    "seconds": 1751.0,
    "still_running": "",
    "per_target": [
        {"target": "111111111111/eu-west-1", "complete": True, "functions_seen": 5000,
         "control_plane_calls": 5230, "invocations": 3, "seconds": 1751.0, "error": ""},
        {"target": "222222222222/us-east-1", "complete": False, "functions_seen": 0,
         "control_plane_calls": 0, "invocations": 0, "seconds": 0.0,
         "error": "rollforward.Refused: no member role"},
    ],
}  # fmt: skip


class FakeStepFunctions:
    def __init__(self, executions: list[dict[str, Any]], map_runs: dict[str, Any]) -> None:
        self.executions = executions
        self.map_runs = map_runs

    def list_executions(self, *, stateMachineArn: str, maxResults: int) -> dict[str, Any]:
        assert stateMachineArn == MACHINE
        return {"executions": self.executions}

    def list_map_runs(self, *, executionArn: str) -> dict[str, Any]:
        run = self.map_runs.get(executionArn)
        return {"mapRuns": [{"mapRunArn": f"{executionArn}/run"}] if run else []}

    def describe_map_run(self, *, mapRunArn: str) -> dict[str, Any]:
        return {"itemCounts": self.map_runs[mapRunArn.removesuffix("/run")]}

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        (execution,) = [e for e in self.executions if e["executionArn"] == executionArn]
        return {**execution, "stopDate": NOW, "output": json.dumps(REPORT)}


def test_the_running_cycle_shows_its_targets_and_the_last_one_its_coverage() -> None:
    sfn = FakeStepFunctions(
        [
            {"executionArn": _arn("last"), "status": "SUCCEEDED", "startDate": EARLIER},
            {"executionArn": _arn("now"), "status": "RUNNING", "startDate": NOW},
        ],
        {_arn("now"): {"total": 6, "succeeded": 2, "running": 3, "pending": 1, "failed": 0}},
    )

    status = cycle_status(sfn, MACHINE)

    running, last = status["running"], status["last"]
    assert (running["execution_arn"], running["phase"]) == (_arn("now"), "scanning")
    assert (running["targets"], running["targets_done"], running["targets_running"]) == (6, 2, 3)
    assert (last["execution_arn"], last["coverage"], last["calls_per_function"]) == (
        _arn("last"), 0.5, 1.046,
    )  # fmt: skip
    text = render_status(status)
    assert "2 of 6 targets done, 3 scanning, 1 waiting, 0 failed" in text
    assert "50% (1 of 2 targets, every phase)" in text
    assert "5230 (1.046 per function), 0 throttled" in text
    assert "222222222222/us-east-1  no" in text  # a line per (account, region)
    assert "rollforward.Refused: no member role" in text


def test_before_the_map_starts_the_cycle_is_planning_and_without_cycles_it_says_so() -> None:
    planning = FakeStepFunctions(
        [{"executionArn": _arn("now"), "status": "RUNNING", "startDate": NOW}], {}
    )
    assert cycle_status(planning, MACHINE)["running"]["phase"] == "planning"
    assert cycle_status(planning, MACHINE)["last"] is None

    none = cycle_status(FakeStepFunctions([], {}), MACHINE)
    assert none == {"state_machine_arn": MACHINE, "running": None, "last": None}
    assert render_status(none).startswith("no scan cycle has run yet")


def test_a_cycle_the_organization_refused_says_so_and_what_to_do() -> None:
    unreadable = (
        "the Organization's accounts could not be listed (AccessDeniedException: ...); this "
        "cycle scans only the hub's own account 111111111111. Deploy the hub in the management "
        "account, register 111111111111 as a delegated administrator (...), or list the "
        "targets in SCAN_TARGETS"
    )
    report = {**REPORT, "organization_unreadable": unreadable}
    sfn = FakeStepFunctions(
        [{"executionArn": _arn("last"), "status": "SUCCEEDED", "startDate": EARLIER}], {}
    )
    sfn.describe_execution = lambda *, executionArn: {  # type: ignore[method-assign]
        **sfn.executions[0], "stopDate": NOW, "output": json.dumps(report),
    }  # fmt: skip

    text = render_status(cycle_status(sfn, MACHINE))

    assert "organization" in text and f"UNREADABLE: {unreadable[:60]}" in text


def test_a_cycle_of_many_failed_targets_names_some_and_counts_them_all() -> None:
    failed = [f"3000000{i:05d}/us-east-1: rollforward.Refused" for i in range(100)]
    report = {**REPORT, "targets": 702, "targets_failed": failed, "targets_failed_total": 700,
              "per_target_omitted": 202}  # fmt: skip
    sfn = FakeStepFunctions(
        [{"executionArn": _arn("last"), "status": "SUCCEEDED", "startDate": EARLIER}], {}
    )
    sfn.describe_execution = lambda *, executionArn: {  # type: ignore[method-assign]
        **sfn.executions[0], "stopDate": NOW, "output": json.dumps(report),
    }  # fmt: skip

    text = render_status(cycle_status(sfn, MACHINE))

    assert "700: 300000000000/us-east-1: rollforward.Refused;" in text
    assert "and 690 more" in text and "300000000010/" not in text.split("\n\n")[0]
    assert "(and 202 more targets, not listed" in text


def test_the_running_cycle_lists_where_each_recorded_target_stands() -> None:
    sfn = FakeStepFunctions(
        [{"executionArn": _arn("now"), "status": "RUNNING", "startDate": NOW}],
        {_arn("now"): {"total": 3, "succeeded": 1, "running": 1, "pending": 0, "failed": 1}},
    )
    cycle = ScanCycle(id="2026-12-02T06:00:00Z", full=True)

    def outcome(account: str, **fields: Any) -> TargetOutcome:
        target = ScanTarget(account=account, region="us-east-1")
        return TargetOutcome(cycle=cycle, target=target, cycle_execution=_arn("now"), **fields)

    records = {
        _arn("now"): [
            outcome("111111111111", complete=True, functions_seen=900, invocations=1),
            outcome("222222222222", functions_seen=1300, invocations=1),
            outcome("333333333333", failure=ChildFailure(Error="rollforward.Refused", Cause="x")),
        ]
    }
    asked: list[str] = []

    def recorded(execution: str) -> list[TargetOutcome]:
        asked.append(execution)
        return records.get(execution, [])

    status = cycle_status(sfn, MACHINE, recorded)
    text = render_status(status)

    assert asked == [_arn("now")]  # the running cycle's records, not another's
    assert [line["target"] for line in status["running"]["per_target"]] == [
        "111111111111/us-east-1", "222222222222/us-east-1", "333333333333/us-east-1",
    ]  # fmt: skip
    assert "111111111111/us-east-1  done" in text
    assert "222222222222/us-east-1  scanning  1300" in text
    assert "333333333333/us-east-1  failed" in text and "rollforward.Refused: x" in text
