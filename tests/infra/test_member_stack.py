"""Hub and spokes in the template: the member stack, the hub's StackSet, bus and sessions.

Both templates come from the session's one synthesis (`emulator.stack`: the example hub and the
member stack are synthesized beside the default stack); cdk-nag ran on them there.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.config import ConfigMixIn
from cfnlint.runner import Runner

from emulator.stack import HUB_STACK_NAME, MEMBER_STACK_NAME, ROOT, synthesize
from infra.member_stack import CANARY_ROLE, READER_ROLE
from tests.infra.iam_call_sites import reachable_sites

# The adapters the hub's code reaches a member through (rollforward.adapters.accounts builds
# them on a member session); everything else it calls (ledger, audit, topics, executions) is
# the hub's own.
MEMBER_SIDE = (
    "rollforward.adapters.lambda_control",
    "rollforward.adapters.signals",
    "rollforward.adapters.posture",
)
# The hub functions acting through each member role (infra/constructs/members.py).
ROLE_USERS = {
    READER_ROLE: ("detect", "tracking", "approval_request", "decision", "scan"),
    CANARY_ROLE: ("canary",),
}
# Where the static analysis over-approximates (a call reached by name only), with why.
OVER_APPROXIMATED = {
    ("scan", "lambda:InvokeFunction"): "AwsLambdaControl.invoke is the canary's synthetic test; "
    "the scan invokes only the hub's own canary function (adapters.canary_repair)",
}
SKIPPED_SERVICES = ("ecr",)  # the posture report's image reads: not acting in members yet


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return synthesize(stack_name=HUB_STACK_NAME)


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    return synthesize(stack_name=MEMBER_STACK_NAME)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def role_named(member: dict[str, Any], name: str) -> dict[str, Any]:
    for role in of_type(member, "AWS::IAM::Role").values():
        role_name = role["Properties"].get("RoleName")
        if role_name and role_name["Fn::Join"][1][0] == name:
            return role["Properties"]  # type: ignore[no-any-return]
    raise KeyError(name)


def granted(properties: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for policy in properties["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            value = statement["Action"]
            actions.update([value] if isinstance(value, str) else value)
    return actions


def needed(role_name: str) -> set[str]:
    found: set[str] = set()
    for handler in ROLE_USERS[role_name]:
        for site in reachable_sites(f"rollforward.handlers.{handler}.handler"):
            if not site.module.startswith(MEMBER_SIDE) or site.service in SKIPPED_SERVICES:
                continue
            if (handler, site.action) not in OVER_APPROXIMATED:
                found.add(site.action)
    return found


@pytest.mark.parametrize("role_name", [READER_ROLE, CANARY_ROLE])
def test_each_member_role_allows_exactly_what_the_hubs_code_calls_there(
    member: dict[str, Any], role_name: str
) -> None:
    assert granted(role_named(member, role_name)) == needed(role_name)


def test_only_the_canary_role_changes_functions(member: dict[str, Any]) -> None:
    mutating = {"lambda:PutRuntimeManagementConfig", "lambda:UpdateAlias", "lambda:PublishVersion"}
    assert not granted(role_named(member, READER_ROLE)) & mutating
    assert mutating <= granted(role_named(member, CANARY_ROLE))


@pytest.mark.parametrize(
    ("role_name", "principals"),
    [(READER_ROLE, "HubReaderRoleArns"), (CANARY_ROLE, "HubCanaryRoleArn")],
)
def test_member_roles_trust_the_named_hub_roles_from_the_organization_only(
    member: dict[str, Any], role_name: str, principals: str
) -> None:
    (statement,) = role_named(member, role_name)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert "HubAccountId" in json.dumps(statement["Principal"])
    condition = statement["Condition"]
    assert principals in json.dumps(condition["ArnEquals"]["aws:PrincipalArn"])
    assert condition["StringEquals"] == {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}


def test_members_forward_runtime_config_events_to_the_hub_bus(
    member: dict[str, Any], template_json: dict[str, Any]
) -> None:
    (rule,) = of_type(member, "AWS::Events::Rule").values()
    (own_pattern,) = [
        r["Properties"]["EventPattern"]
        for r in of_type(template_json, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.lambda"]
    ]
    assert rule["Properties"]["EventPattern"] == own_pattern
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "HubEventBusArn"} and "RoleArn" in target


def test_the_stackset_deploys_the_member_template_service_managed(
    hub: dict[str, Any], member: dict[str, Any]
) -> None:
    (stack_set,) = of_type(hub, "AWS::CloudFormation::StackSet").values()
    props = stack_set["Properties"]
    assert json.loads(props["TemplateBody"]) == member
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert {p["ParameterKey"] for p in props["Parameters"]} == set(member["Parameters"])
    (group,) = props["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {
        "OrganizationalUnitIds": {"Ref": "MemberOrganizationalUnitIds"}
    }


def test_the_hub_bus_admits_the_organization_only(hub: dict[str, Any]) -> None:
    (policy,) = of_type(hub, "AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}
    }


def test_hub_functions_assume_their_member_role_in_the_organization_only(
    hub: dict[str, Any],
) -> None:
    roles: dict[str, str] = {}
    for logical, fn in of_type(hub, "AWS::Lambda::Function").items():
        variables = fn["Properties"]["Environment"]["Variables"]
        if "MEMBER_ROLE_NAME" in variables:
            roles[logical] = variables["MEMBER_ROLE_NAME"]
            assert variables["HUB_ACCOUNT"] == {"Ref": "AWS::AccountId"}
    by_function = {logical.rstrip("0123456789ABCDEF"): role for logical, role in roles.items()}
    assert by_function == {
        "Detect": READER_ROLE,
        "Scan": READER_ROLE,
        "Tracking": READER_ROLE,
        "ApprovalRequest": READER_ROLE,
        "Decision": READER_ROLE,
        "Canary": CANARY_ROLE,
    }
    assumes = [
        statement
        for policy in of_type(hub, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "sts:AssumeRole"
    ]
    assert len(assumes) == len(roles)
    for statement in assumes:
        assert statement["Condition"] == {
            "StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}
        }


def test_the_hubs_scan_targets_the_stacksets_ous_and_regions_and_lists_only_them(
    hub: dict[str, Any],
) -> None:
    """Each cycle the scan lists the accounts under the StackSet's OUs (rollforward.handlers
    .scan.plan): told the same parameters the StackSet deploys with, allowed only to list the
    root and OUs of the organization; only the scan may."""
    listed: dict[str, list[Any]] = {}
    described: list[str] = []
    for logical, policy in of_type(hub, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            if actions == "organizations:DescribeOrganization":  # (no resource-level form)
                assert statement["Resource"] == "*"
                described.append(logical.rstrip("0123456789ABCDEF"))
            elif "organizations" in json.dumps(actions):
                listed[logical.rstrip("0123456789ABCDEF")] = statement["Resource"]
                assert sorted(actions) == [
                    "organizations:ListAccountsForParent",
                    "organizations:ListOrganizationalUnitsForParent",
                ]
    assert list(listed) == described == ["ScanRoleDefaultPolicy"]
    text = json.dumps(listed["ScanRoleDefaultPolicy"])
    assert ":organizations::*:root/" in text and ":organizations::*:ou/" in text
    assert text.count('{"Ref": "OrganizationId"}') == 2
    (scan,) = (
        fn for logical, fn in of_type(hub, "AWS::Lambda::Function").items()
        if logical.startswith("Scan")
    )  # fmt: skip
    variables = scan["Properties"]["Environment"]["Variables"]
    assert variables["MEMBER_OUS"] == {"Fn::Join": [",", {"Ref": "MemberOrganizationalUnitIds"}]}
    assert variables["MEMBER_REGIONS"] == {"Fn::Join": [",", {"Ref": "MemberRegions"}]}


def test_a_single_account_install_has_no_hub_parts(template_json: dict[str, Any]) -> None:
    text = json.dumps(template_json)
    for absent in ("AWS::CloudFormation::StackSet", "AWS::Events::EventBus", "MEMBER_ROLE_NAME"):
        assert absent not in text
    assert not [
        statement
        for policy in of_type(template_json, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sts:AssumeRole" in json.dumps(statement["Action"])
    ]


@pytest.mark.parametrize("stack_name", [HUB_STACK_NAME, MEMBER_STACK_NAME])
def test_cfn_lint_finds_nothing_in_hub_or_member(stack_name: str) -> None:
    config = ConfigMixIn(cli_args=["--config-file", str(ROOT / ".cfnlintrc.yaml")])
    matches = [str(m) for m in Runner(config).validate_template(synthesize(stack_name=stack_name))]
    assert matches == []
