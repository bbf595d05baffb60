"""Who may operate a SERVICE_MANAGED StackSet, as CloudFormation decides
(docs/parity/accounts.md): the management account as itself (CallAs SELF), a StackSets delegated
administrator as one (CallAs DELEGATED_ADMIN); anything else fails the StackSet with AWS's
message. StackSets deploys no stack instance to the management account; the delegated
administrator's own account, in a target OU, gets one like any member."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from emulator.accounts import create_organization, stack_set_credentials
from emulator.deploy import ResourceFailed, TemplateDeployer
from emulator.inprocess import EmbeddedAws
from emulator.organizations import (
    NOT_DELEGATED,
    NOT_MANAGEMENT_NOR_DELEGATED,
    stack_set_refusal,
)

HUB, MEMBER, MANAGEMENT = "123456789012", "111111111111", "999900001111"


def _stack_set(call_as: str) -> dict[str, object]:
    member_template = {"Resources": {}}
    return {
        "Resources": {
            "Members": {
                "Type": "AWS::CloudFormation::StackSet",
                "Properties": {
                    "StackSetName": "members",
                    "PermissionModel": "SERVICE_MANAGED",
                    "CallAs": call_as,
                    "TemplateBody": json.dumps(member_template),
                    "Parameters": [],
                    "StackInstancesGroup": [{"Regions": ["us-east-1"]}],
                },
            }
        }
    }


@pytest.fixture
def as_management() -> Iterator[None]:
    with EmbeddedAws():
        create_organization([MEMBER])  # the hub is the management account
        yield


@pytest.fixture
def as_delegated() -> Iterator[None]:
    with EmbeddedAws():
        create_organization([MEMBER], management_account=MANAGEMENT)
        yield


def test_the_management_account_operates_as_itself_only(as_management: None) -> None:
    assert stack_set_refusal(HUB, "SELF") == ""
    assert stack_set_refusal(HUB, "DELEGATED_ADMIN") == NOT_DELEGATED
    with pytest.raises(ResourceFailed, match=NOT_DELEGATED):
        TemplateDeployer(_stack_set("DELEGATED_ADMIN"), "Hub", "us-east-1").deploy()
    deployed = TemplateDeployer(_stack_set("SELF"), "Hub", "us-east-1").deploy()
    assert set(deployed.stack_instances) == {f"{MEMBER}/us-east-1"}


def test_a_delegated_administrator_operates_as_one_and_never_deploys_to_management(
    as_delegated: None,
) -> None:
    assert stack_set_refusal(HUB, "DELEGATED_ADMIN") == ""
    assert stack_set_refusal(HUB, "SELF") == NOT_MANAGEMENT_NOR_DELEGATED
    assert stack_set_refusal(MEMBER, "DELEGATED_ADMIN") == NOT_DELEGATED  # not registered
    with pytest.raises(ResourceFailed, match="management account or delegated admin"):
        TemplateDeployer(_stack_set("SELF"), "Hub", "us-east-1").deploy()
    deployed = TemplateDeployer(_stack_set("DELEGATED_ADMIN"), "Hub", "us-east-1").deploy()
    # Not MANAGEMENT's; the delegated administrator's own, as AWS deploys one there.
    assert set(deployed.stack_instances) == {f"{HUB}/us-east-1", f"{MEMBER}/us-east-1"}


def test_the_hubs_own_instance_forwards_only_from_regions_its_own_rule_does_not_watch(
    as_delegated: None,
) -> None:
    """The member template (infra/member_stack.py) in the hub's account: its forwarding rule
    would detect each event twice in the hub's region (the hub's own rule is there), and is
    the only way in from the hub's other regions."""
    from infra.member_stack import member_template

    hub = {"HubAccountId": HUB, "HubRegion": "us-east-1", "OrganizationId": "o-abcdefghij"}
    parameters = {
        **hub,
        "HubEventBusArn": f"arn:aws:events:us-east-1:{HUB}:event-bus/hub",
        "HubReaderRoleArns": f"arn:aws:iam::{HUB}:role/reader",
        "HubCanaryRoleArn": f"arn:aws:iam::{HUB}:role/canary",
    }
    template = member_template()

    def rules(account: str, region: str) -> set[str]:
        credentials = None if account == HUB else stack_set_credentials(account)
        deployed = TemplateDeployer(
            template, "Member", region, account=account, parameters=parameters,
            credentials=credentials,
        ).deploy()  # fmt: skip
        return {t for t in deployed.types.values() if t == "AWS::Events::Rule"}

    assert rules(HUB, "us-east-1") == set()  # the hub's own rule detects these
    assert rules(HUB, "eu-west-1") == {"AWS::Events::Rule"}
    assert rules(MEMBER, "us-east-1") == {"AWS::Events::Rule"}


def test_outside_an_organization_no_stack_set_is_service_managed() -> None:
    with EmbeddedAws():
        assert stack_set_refusal(HUB, "SELF") == NOT_MANAGEMENT_NOR_DELEGATED
        assert stack_set_refusal(HUB, "DELEGATED_ADMIN") == NOT_DELEGATED
