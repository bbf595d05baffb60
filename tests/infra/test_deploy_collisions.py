"""Deploy readiness: two rollforward stacks in one account and region, and API Gateway's limits.

Both templates come from one synthesis (tests/infra/conftest.py): `Rollforward` and
`RollforwardSecond`, same settings.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App

from emulator.stack import SECOND_STACK_NAME, STACK_NAME
from infra.constructs.api import API_INTEGRATION_TIMEOUT_SECONDS
from infra.constructs.functions import UnsupportedRegion
from infra.settings import Settings
from infra.stack import RollforwardStack

# Properties that set a resource's physical name (unique per account and region, or per
# account for IAM), by resource type; absent means CloudFormation generates a unique one.
NAME_PROPERTIES = {
    "AWS::SSM::Parameter": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Events::Rule": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::KMS::Alias": "AliasName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::CompositeAlarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::CloudWatch::InsightRule": "RuleName",
    "AWS::Logs::QueryDefinition": "Name",
    "AWS::ApiGateway::RestApi": None,  # ids are generated; Name need not be unique
}
# Resource types of which an account and region holds exactly one: a stack must not own them.
REGIONAL_SINGLETONS = {"AWS::ApiGateway::Account"}


def _render(value: Any, stack: str) -> str:
    """A name as deployed: the stack's own name substituted, anything resolved at deploy made
    unique to the stack (a reference to one of its resources can never equal the other's)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return stack if argument == "AWS::StackName" else f"<{argument}@{stack}>"
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(_render(part, stack) for part in parts)
        if function == "Fn::Sub" and isinstance(argument, str):
            return argument.replace("${AWS::StackName}", stack)
    return f"<{json.dumps(value, sort_keys=True)}@{stack}>"


def physical_names(template: dict[str, Any], stack: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for logical, resource in template["Resources"].items():
        prop = NAME_PROPERTIES.get(resource["Type"])
        value = (resource.get("Properties") or {}).get(prop) if prop else None
        if value is not None:
            names[f"{resource['Type']} {_render(value, stack)}"] = logical
    return names


def test_two_stacks_of_different_names_have_no_colliding_physical_names(
    template_json: dict[str, Any], second_template_json: dict[str, Any]
) -> None:
    first = physical_names(template_json, STACK_NAME)
    second = physical_names(second_template_json, SECOND_STACK_NAME)
    assert first, "the check must see the named resources (the discovery parameter at least)"
    assert any(name.startswith("AWS::SSM::Parameter ") for name in first)
    collisions = sorted(set(first) & set(second))
    assert not collisions, f"both stacks would create {collisions}"


def test_the_discovery_parameter_is_named_after_its_stack(
    template_json: dict[str, Any], second_template_json: dict[str, Any]
) -> None:
    for template, stack in ((template_json, STACK_NAME), (second_template_json, SECOND_STACK_NAME)):
        [name] = [
            r["Properties"]["Name"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::SSM::Parameter"
        ]
        assert name == f"/rollforward/stacks/{stack}/discovery"


def test_no_stack_owns_a_regional_singleton_by_default(template_json: dict[str, Any]) -> None:
    owned = {r["Type"] for r in template_json["Resources"].values()} & REGIONAL_SINGLETONS
    assert not owned, f"the stack would overwrite the region's {owned}"


def test_every_api_integrated_function_ends_before_api_gateways_integration_timeout(
    template_json: dict[str, Any],
) -> None:
    resources = template_json["Resources"]
    integrated: set[str] = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGateway::Method":
            continue
        uri = json.dumps(resource["Properties"].get("Integration", {}).get("Uri", ""))
        integrated |= {
            logical
            for logical, candidate in resources.items()
            if candidate["Type"] == "AWS::Lambda::Function" and f'"{logical}"' in uri
        }
    assert integrated, "the decision API integrates at least one function"
    for logical in integrated:
        timeout = resources[logical]["Properties"].get("Timeout", 3)
        assert timeout < API_INTEGRATION_TIMEOUT_SECONDS, (logical, timeout)


@pytest.mark.parametrize("region", ["cn-northwest-1", "us-iso-east-1"])
def test_a_region_without_a_powertools_layer_fails_the_synth_clearly(region: str) -> None:
    app = App()
    with pytest.raises(UnsupportedRegion, match=region):
        RollforwardStack(
            app, "Elsewhere", settings=Settings(), env={"account": "123456789012", "region": region}
        )


@pytest.mark.parametrize(
    ("region", "account"),
    [("us-gov-west-1", "165093116878"), ("cn-north-1", "498634801083")],
)
def test_a_govcloud_or_china_stack_uses_that_partitions_powertools_layer(
    region: str, account: str
) -> None:
    """cdk.json targets aws-cn and aws-us-gov: the layer there is another account's, in that
    partition (the commercial account's ARN would not resolve)."""
    from aws_cdk.assertions import Template

    app = App()
    stack = RollforwardStack(
        app, "Partitioned", settings=Settings(), env={"account": "123456789012", "region": region}
    )
    layers = {
        json.dumps(layer)
        for resource in Template.from_stack(stack).to_json()["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        for layer in resource["Properties"].get("Layers", [])
    }
    assert layers, "the functions carry the Powertools layer"
    # The ARN's partition and region are the stack's pseudo parameters; the account is mapped.
    assert all(f":{account}:layer:" in layer for layer in layers), layers
    assert all('"AWS::Partition"' in layer for layer in layers), layers
