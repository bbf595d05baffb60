"""Who may operate a SERVICE_MANAGED StackSet, as CloudFormation decides
(docs/parity/accounts.md): the management account as itself (CallAs SELF), a StackSets delegated
administrator as one (CallAs DELEGATED_ADMIN); anything else fails the StackSet with AWS's
message. StackSets deploys no stack instance to the management account."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from emulator.accounts import create_organization
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
    assert set(deployed.stack_instances) == {f"{MEMBER}/us-east-1"}  # not MANAGEMENT's


def test_outside_an_organization_no_stack_set_is_service_managed() -> None:
    with EmbeddedAws():
        assert stack_set_refusal(HUB, "SELF") == NOT_MANAGEMENT_NOR_DELEGATED
        assert stack_set_refusal(HUB, "DELEGATED_ADMIN") == NOT_DELEGATED
