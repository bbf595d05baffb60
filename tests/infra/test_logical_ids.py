"""The resources a deploy must never replace keep their logical ids.

A changed logical id makes CloudFormation create a new resource and drop the old one; for a
retained resource that means a new, empty ledger (or audit trail, or key) while the old one is
left behind, unreferenced. The stack's parts create their resources in the stack's own scope
for this reason (infra/stack.py); this test catches a part moved under a construct scope.
"""

from __future__ import annotations

from typing import Any

# Every retained resource of the stack, by logical id, as deployed since the first release.
RETAINED = {
    "Key961B73FD": "AWS::KMS::Key",
    "LedgerB7379752": "AWS::DynamoDB::Table",
    "Approvals8537C562": "AWS::DynamoDB::Table",
    "AuditTrailFF0F2BB5": "AWS::Logs::LogGroup",
    "DecisionApiAccessLogs42D296F6": "AWS::Logs::LogGroup",
}


def test_retained_resources_keep_their_logical_ids(template_json: dict[str, Any]) -> None:
    retained = {
        logical_id: resource["Type"]
        for logical_id, resource in template_json["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    }
    assert retained == RETAINED


def test_the_machine_and_discovery_keep_their_logical_ids(template_json: dict[str, Any]) -> None:
    # Named resources: a replacement would collide with the running one's name.
    resources = template_json["Resources"]
    assert resources["Remediation430FED09"]["Type"] == "AWS::StepFunctions::StateMachine"
    assert resources["DiscoveryA3CBF0BC"]["Type"] == "AWS::SSM::Parameter"
