"""CloudFormation conditions in the embedded deployer (docs/parity/accounts.md): a template's
`Conditions` are evaluated from its parameters and pseudo parameters; a resource whose condition
is false is not created; `Fn::If` takes the branch its condition chooses. The deployer took
every `Fn::If`'s first branch and created every resource."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from emulator.deploy import TemplateDeployer
from emulator.inprocess import EmbeddedAws

TEMPLATE = {
    "Parameters": {"Stage": {"Type": "String"}},
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "InHome": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
        "ProdAway": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Not": [{"Condition": "InHome"}]}]},
        "EitherWay": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "InHome"}]},
    },
    "Resources": {
        "Always": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": "/stage",
                "Type": "String",
                "Value": {"Fn::If": ["IsProd", "production", "testing"]},
            },
        },
        "OnlyProdAway": {
            "Type": "AWS::SSM::Parameter",
            "Condition": "ProdAway",
            "Properties": {"Name": "/away", "Type": "String", "Value": "yes"},
        },
        "OnlyEitherWay": {
            "Type": "AWS::SSM::Parameter",
            "Condition": "EitherWay",
            "Properties": {"Name": "/either", "Type": "String", "Value": "yes"},
        },
    },
}


@pytest.fixture
def embedded() -> Iterator[None]:
    with EmbeddedAws():
        yield


def _deployed(stage: str, region: str) -> dict[str, str]:
    TemplateDeployer(TEMPLATE, "Conditional", region, parameters={"Stage": stage}).deploy()
    ssm = boto3.client("ssm", region_name=region)
    listed = ssm.get_parameters(Names=["/stage", "/away", "/either"])["Parameters"]
    return {p["Name"]: p["Value"] for p in listed}


@pytest.mark.parametrize(
    ("stage", "region", "expected"),
    [
        ("prod", "eu-west-1", {"/stage": "production", "/away": "yes", "/either": "yes"}),
        ("prod", "us-east-1", {"/stage": "production", "/either": "yes"}),
        ("test", "us-east-1", {"/stage": "testing", "/either": "yes"}),
        ("test", "eu-west-1", {"/stage": "testing"}),
    ],
)
def test_conditions_choose_the_resources_and_the_values(
    embedded: None, stage: str, region: str, expected: dict[str, str]
) -> None:
    assert _deployed(stage, region) == expected
