"""`rollforward scan` starts a cycle of the scan's machine (cli/commands/scan.py `start_cycle`),
as the hourly schedule does, on fakes of what it reaches (Step Functions, STS): the execution
and how to follow it, who asked and `--full`/`--screen` as the execution's input (the cycle's
Plan audits them), and a clear refusal (nothing started) while a cycle runs. End to end: tests/e2e/test_cli.py."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from rollforward_cli.commands.base import ActionFailed
from rollforward_cli.commands.scan import run

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:Rollforward-scan"
CALLER = "arn:aws:sts::123456789012:assumed-role/oncall/alice"
STARTED = datetime(2026, 12, 2, 6, 0, 12, tzinfo=UTC)


class FakeStepFunctions:
    def __init__(self, running: list[dict[str, Any]]) -> None:
        self.running = running
        self.started: list[dict[str, Any]] = []

    def list_executions(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["stateMachineArn"] == MACHINE and kwargs["statusFilter"] == "RUNNING"
        return {"executions": self.running}

    def start_execution(self, *, stateMachineArn: str, input: str) -> dict[str, Any]:
        self.started.append({"machine": stateMachineArn, "input": json.loads(input)})
        arn = MACHINE.replace(":stateMachine:", ":execution:") + ":manual-1"
        return {"executionArn": arn, "startDate": STARTED}


class FakeOut:
    def __init__(self) -> None:
        self.data: Any = None
        self.text = ""

    def result(self, data: Any, text: str) -> None:
        self.data, self.text = data, text


def _context(sfn: FakeStepFunctions) -> SimpleNamespace:
    sts = SimpleNamespace(get_caller_identity=lambda: {"Arn": CALLER})
    clients = {"stepfunctions": sfn, "sts": sts}
    return SimpleNamespace(
        discovery={"scan_state_machine_arn": MACHINE},
        target=SimpleNamespace(client=clients.__getitem__),
        out=FakeOut(),
    )


def _args(full: bool | None = None) -> argparse.Namespace:
    return argparse.Namespace(status=False, dry_run=False, full=full)


@pytest.mark.parametrize(
    ("full", "expected"), [(None, {}), (True, {"full": True}), (False, {"full": False})]
)
def test_scan_starts_a_cycle_of_the_machine_and_says_how_to_follow_it(
    full: bool | None, expected: dict[str, Any]
) -> None:
    sfn = FakeStepFunctions(running=[])
    context = _context(sfn)

    assert run(_args(full), context) == 0  # type: ignore[arg-type]

    assert sfn.started == [{"machine": MACHINE, "input": {"requested_by": CALLER, **expected}}]
    arn = context.out.data["execution_arn"]
    assert arn.endswith(":execution:Rollforward-scan:manual-1")
    assert arn in context.out.text and "rollforward scan --status" in context.out.text


def test_scan_refuses_while_a_cycle_runs_and_starts_nothing() -> None:
    running = MACHINE.replace(":stateMachine:", ":execution:") + ":hourly-0600"
    sfn = FakeStepFunctions(running=[{"executionArn": running, "startDate": STARTED}])
    context = _context(sfn)

    with pytest.raises(ActionFailed) as refused:
        run(_args(), context)  # type: ignore[arg-type]

    message = str(refused.value)
    assert running in message and "2026-12-02 06:00:12Z" in message
    assert "cycle_skipped" in message and "rollforward scan --status" in message
    assert sfn.started == []
