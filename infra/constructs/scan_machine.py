"""The scan's machine: the Distributed Map `workflows/scan.py` builds, started by the hourly
schedule (`Triggers`), as a Standard machine with X-Ray and execution logs without execution
data, encrypted with the stack's key. Its children are executions of this machine: the role
may start, describe and stop its own executions (AWS requires it for a Distributed Map).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs import (
    acknowledge,
    executions_wildcard_finding,
    qualified_arn_wildcard_finding,
)
from workflows.scan import build_scan_definition


class ScanMachine(Construct):
    """Plan → Targets (one child per (account, region)) → Report; a new part (its own scope)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey,
                 scan: lambda_.IFunction) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Executions",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.name = f"{stack.stack_name}-scan"
        definition = build_scan_definition(Construct(self, "States"), scan)
        self.state_machine = sfn.StateMachine(
            self,
            "Machine",
            state_machine_name=self.name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(6),  # a cycle is an hour; a stuck one must not pile up
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
        )
        # Plan leaves the targets to an earlier cycle still running (one scanner per bucket,
        # rollforward.scan.cycle.earlier_cycle): it lists this machine's running executions.
        # By name, not by reference: the machine already refers to the function (a cycle).
        scan.add_to_role_policy(
            iam.PolicyStatement(actions=["states:ListExecutions"], resources=[self.arn_by_name])
        )
        acknowledge(
            self.state_machine,
            "IAM5[Resource::*]",
            "Execution logging and X-Ray: logs:*LogDelivery*, logs:PutResourcePolicy, "
            "logs:DescribeResourcePolicies, logs:DescribeLogGroups and xray:* trace actions have "
            "no resource-level permissions, AWS only accepts Resource '*'.",
        )
        acknowledge(
            self.state_machine,
            qualified_arn_wildcard_finding(scan),
            "Lambda tasks may invoke versions and aliases of the scan function only.",
        )
        # CDK grants the machine's role DescribeExecution and StopExecution on its own child
        # executions (AWS requires it of a Distributed Map); their names are AWS's to choose.
        # (Spelled as `executions_wildcard_finding` spells it: concrete region and account when
        # the stack has an environment.)
        every_execution = executions_wildcard_finding(self.state_machine)
        children = every_execution.removesuffix(":*]") + "/ScanTargets:*]"
        for finding in (every_execution, children):
            acknowledge(
                self.state_machine,
                finding,
                "A Distributed Map describes and stops its own child executions, named by AWS.",
            )

    @property
    def arn_by_name(self) -> str:
        """The machine's ARN from its name (for grants to the function it runs)."""
        return f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{self.name}"
