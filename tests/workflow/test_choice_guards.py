"""Every Choice of the synthesized state machine routes every output its tasks produce.

Step Functions fails an execution (States.Runtime) when a Choice rule reads a path absent from
its input; the embedded AWS does too. Each Choice state is taken from the synthesized template
and run alone in the embedded AWS, its targets replaced by Pass states that name themselves.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest

from emulator.stack import synthesize

ROLE = "arn:aws:iam::123456789012:role/states"
TRACKING = {"pin_id": "p", "generation": 1, "status": "tracking", "outcome": ""}
CLOSED = {"pin_id": "p", "generation": 1, "status": "closed", "next": {}, "outcome": "lifted"}


def _definition() -> dict[str, Any]:
    template = synthesize()
    (machine,) = (
        r
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and logical.startswith("Remediation")
    )
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    # Non-string parts are ARNs (Fn::GetAtt / Ref); Choice states never contain them.
    return json.loads("".join(p if isinstance(p, str) else "ref" for p in parts))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def states() -> dict[str, Any]:
    return _definition()["States"]  # type: ignore[no-any-return]


def route(states: dict[str, Any], choice: str, state_input: dict[str, Any]) -> str:
    """Run the Choice state `choice` alone; the name of the state it chose, or the error."""
    rule_targets = {rule["Next"] for rule in states[choice]["Choices"]} | {
        states[choice].get("Default")
    }
    targets = {name: {"Type": "Pass", "Result": name, "End": True} for name in rule_targets if name}
    definition = {"StartAt": choice, "States": {choice: states[choice], **targets}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"choice-{uuid.uuid4().hex[:10]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(state_input))
    for _ in range(250):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] == "SUCCEEDED":
            return json.loads(described["output"])  # type: ignore[no-any-return]
        if described["status"] != "RUNNING":
            return f"{described['status']}: {described.get('error')}"
        time.sleep(0.02)
    raise AssertionError("the Choice never finished")


@pytest.mark.parametrize(
    ("state_input", "expected"),
    [
        # A canary task found its pin superseded: no `canary` key at all.
        ({**CLOSED, "outcome": "superseded"}, "NextStep"),
        ({**TRACKING, "canary": {"next": "stopped", "reason": "alarm"}}, "NextStep"),
        ({**TRACKING, "canary": {"next": "rolled_back", "reason": "errors"}}, "NextStep"),
        ({**TRACKING, "canary": {"next": "bake"}}, "Bake"),
        ({**TRACKING, "canary": {"next": "promote"}}, "Promote"),
        ({**TRACKING, "canary": {"next": "post_bake"}}, "PostPromotionBake"),
        ({**TRACKING, "canary": {"next": "resolved"}}, "Resolve"),
        ({**TRACKING, "canary": {"next": "rollback"}}, "Rollback"),
        ({**TRACKING, "canary": {"next": "ask_human"}}, "Rollback"),
        ({**TRACKING, "canary": {}}, "NextStep"),
    ],
)
def test_canary_next_routes_every_canary_output(aws, states, state_input, expected):
    assert route(states, "CanaryNext", state_input) == expected


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        ({"decision": "approved", "approver": "arn:aws:iam::1:user/oncall-b"}, "RecordApproval"),
        ({"decision": "rejected"}, "RecordRejection"),
        ({"decision": "closed"}, "Closed"),
        ({"decision": "forged"}, "RequestApproval"),
        ({}, "RecordRejection"),  # an answer without a decision is not an approval
    ],
)
def test_decision_routes_every_answer(aws, states, decision, expected):
    assert route(states, "Decision", {**TRACKING, "decision": decision}) == expected


@pytest.mark.parametrize(
    ("state_input", "expected"),
    [
        (CLOSED, "Closed"),
        (
            {**TRACKING, "status": "continue", "continue_at": "2027-01-01T00:00:00Z"},
            "WaitForHandover",
        ),
        ({**TRACKING, "status": "continued", "outcome": "continued in x-c1"}, "Continued"),
        ({**TRACKING, "next": {"requests_approval": True}}, "WaitForApprovalStage"),
        ({**TRACKING, "next": {"requests_approval": False}}, "WaitForStage"),
    ],
)
def test_next_step_routes_every_tracking_output(aws, states, state_input, expected):
    assert route(states, "NextStep", state_input) == expected


def test_every_choice_of_the_machine_is_covered(states):
    choices = {name for name, state in states.items() if state["Type"] == "Choice"}
    assert choices == {"CanaryNext", "Decision", "NextStep"}
