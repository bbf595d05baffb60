"""Acknowledgments name the finding cdk-nag reports, with and without a stack environment.

The CDK CLI gives the app an environment (CDK_DEFAULT_ACCOUNT/REGION) whenever it has
credentials, and CDK then writes the concrete region and account into the ARNs its grants make:
an acknowledgment spelled with pseudo parameters no longer matches, and `cdk deploy` fails its
synth. A small stack (not the whole app: the tier synthesizes that once) proves both spellings.
"""

from __future__ import annotations

import tempfile

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import AwsSolutionsChecks

from infra.constructs import acknowledge, executions_wildcard_finding


def _synth(env: cdk.Environment | None) -> None:
    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir)
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        stack = cdk.Stack(app, "Probe", env=env)
        machine = sfn.StateMachine(
            stack,
            "Machine",
            definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "Done")),
        )
        role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        machine.grant_execution(role, "states:DescribeExecution")
        acknowledge(role, executions_wildcard_finding(machine), "probe: one machine's executions")
        for construct in (machine, role):
            for finding in ("IAM5[Resource::*]", "SF1", "SF2"):
                acknowledge(construct, finding, "probe: not what this test is about")
        app.synth()


@pytest.mark.parametrize(
    "env",
    [None, cdk.Environment(account="123456789012", region="eu-west-1")],
    ids=["environment-agnostic", "with-environment"],
)
def test_the_executions_acknowledgment_matches_the_finding(env: cdk.Environment | None) -> None:
    _synth(env)  # an unmatched IAM5 finding fails the synth
