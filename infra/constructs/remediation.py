"""The remediation state machine: the definition `workflows/remediation.py` builds (ladder,
approval, canary), as a Standard machine with X-Ray, execution logs without execution data, and
the stack's key.

New state machines (the Distributed Map scan) go in a module of their own beside this one.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs import acknowledge, qualified_arn_wildcard_finding
from infra.constructs.functions import TaskFunctions
from workflows.remediation import RemediationFunctions, build_remediation_definition


class Remediation:
    """The machine that tracks one pin from detection to resolution, in the stack's own scope."""

    def __init__(self, stack: Stack, key: kms.IKey, tasks: TaskFunctions) -> None:
        self.log_group = logs.LogGroup(
            stack,
            "RemediationExecutions",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        functions = RemediationFunctions(
            tracking=tasks.tracking,
            approval_request=tasks.approval_request,
            canary=tasks.canary,
        )
        definition = build_remediation_definition(Construct(stack, "RemediationStates"), functions)
        # Named, so that functions the machine invokes can be granted rights on its executions
        # without a reference back to it (which would be a dependency cycle).
        self.name = f"{stack.stack_name}-remediation"
        self.state_machine = sfn.StateMachine(
            stack,
            "Remediation",
            state_machine_name=self.name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # A pin may stay tracked for months: snoozes and re-escalations restart the ladder.
            timeout=Duration.days(365),
            tracing_enabled=True,
            # Every state transition, but no execution data: RequestApproval's parameters carry
            # the task token ($$.Task.Token), and whoever holds a token can answer it. Inputs
            # and outputs stay in the execution history (states:GetExecutionHistory) and the
            # domain facts in the audit trail.
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
        )
        acknowledge(
            self.state_machine,
            "IAM5[Resource::*]",
            "Execution logging and X-Ray: logs:*LogDelivery*, logs:PutResourcePolicy, "
            "logs:DescribeResourcePolicies, logs:DescribeLogGroups and xray:* trace actions have "
            "no resource-level permissions, AWS only accepts Resource '*'.",
        )
        for task_function in vars(functions).values():
            acknowledge(
                self.state_machine,
                qualified_arn_wildcard_finding(task_function),
                "Lambda tasks may invoke versions and aliases of this one rollforward function.",
            )

    @property
    def arn_by_name(self) -> str:
        """The machine's ARN from its name: for grants to functions the machine itself refers
        to (a reference to the machine from them would be a dependency cycle)."""
        return f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{self.name}"
