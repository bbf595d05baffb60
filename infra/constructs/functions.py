"""rollforward's Lambda functions: one asset, one Powertools layer, one environment, and per
function its own log group and its own role (which writes only that log group).

The functions come in two groups because of one reference each way: the remediation state
machine invokes the `TaskFunctions` (so they exist before it), and the `EntryFunctions` start its
executions (so they are told its ARN, and exist after it). What each role may do beyond its own
logs is in `infra/constructs/grants.py`.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnCondition, CfnMapping, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from rollforward.policy import Policy

from infra.constructs import acknowledge
from infra.constructs.api import DECISION_TIMEOUT
from infra.constructs.notices import Notices
from infra.constructs.storage import Storage
from infra.settings import Settings

LAMBDA_ASSET = Path(__file__).resolve().parent.parent.parent / "lambdas"

# Accounts publishing the Powertools for AWS Lambda (Python) v3 layers (Powertools docs, "Lambda
# Layer"): one for every commercial region; China and GovCloud have their own, per region.
POWERTOOLS_COMMERCIAL_ACCOUNT = "017000801446"
POWERTOOLS_ACCOUNTS_BY_REGION = {
    "cn-north-1": "498634801083",
    "us-gov-east-1": "165087284144",
    "us-gov-west-1": "165093116878",
}


class UnsupportedRegion(ValueError):
    """The stack's region has no Powertools layer rollforward can use."""


class FunctionFactory:
    """Makes each rollforward function the same way: Python 3.13 on arm64, X-Ray, JSON logs
    into its own encrypted log group, its own role, the common environment plus its own."""

    def __init__(
        self,
        stack: Stack,
        settings: Settings,
        policy: Policy,
        storage: Storage,
        notices: Notices,
    ) -> None:
        self._stack = stack
        self._key = storage.key
        topics = notices.environment()
        self._environment = {
            "LEDGER_TABLE": storage.ledger.table_name,
            "APPROVALS_TABLE": storage.approvals.table_name,
            "OWNER_TOPIC_ARN": topics["OWNER_TOPIC_ARN"],
            "TEAM_TOPIC_ARN": topics["TEAM_TOPIC_ARN"],
            "ONCALL_TOPIC_ARN": topics["ONCALL_TOPIC_ARN"],
            "AUDIT_LOG_GROUP": storage.audit_log_group.log_group_name,
            "POLICY": policy.to_json(indent=None),
            "CONSOLE_URL": settings.console_url,
            "POWERTOOLS_SERVICE_NAME": "rollforward",
            "POWERTOOLS_METRICS_NAMESPACE": "rollforward",
        }
        self._powertools = lambda_.LayerVersion.from_layer_version_arn(
            stack,
            "Powertools",
            f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{_powertools_account(stack)}:layer:"
            f"AWSLambdaPowertoolsPythonV3-python313-arm64:{settings.powertools_layer_version}",
        )
        self._code = lambda_.Code.from_asset(
            str(LAMBDA_ASSET), exclude=["**/__pycache__", "**/*.pyc", "*.egg-info"]
        )

    def function(
        self, name: str, handler: str, timeout: Duration, **extra_env: str
    ) -> lambda_.Function:
        """The function `name` running `rollforward.handlers.<handler>`."""
        stack = self._stack
        log_group = logs.LogGroup(
            stack,
            f"{name}Logs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=self._key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Not AWSLambdaBasicExecutionRole: that grants log writes to every log group.
        role = iam.Role(
            stack,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"rollforward {name}: writes only its own log group",
        )
        log_group.grant_write(role)
        acknowledge(
            role,
            "IAM5[Resource::*]",
            "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no "
            "resource-level permissions, AWS only accepts Resource '*'.",
        )
        fn = lambda_.Function(
            stack,
            name,
            role=role,
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"rollforward.handlers.{handler}",
            code=self._code,
            layers=[self._powertools],
            timeout=timeout,
            memory_size=512,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={**self._environment, **extra_env},
            description=f"rollforward {name}",
        )
        acknowledge(
            fn,
            "L1",
            "Python 3.13 on purpose: the Powertools layer is built per Python minor version "
            "(python313-arm64) and the handlers are tested on 3.13. Moving to a newer minor "
            "version is a reviewed change of both; runtime version updates within 3.13 stay "
            "on Auto.",
        )
        return fn


class TaskFunctions:
    """The functions the remediation machine runs as tasks, and the decision API's handler."""

    def __init__(self, factory: FunctionFactory) -> None:
        self.tracking = factory.function("Tracking", "tracking.handler", Duration.minutes(1))
        self.approval_request = factory.function(
            "ApprovalRequest", "approval_request.handler", Duration.minutes(1)
        )
        # Below API Gateway's 29-second integration timeout: the caller gets the handler's
        # answer (or its error), never a 504 for a decision that may have been recorded.
        self.decision = factory.function("Decision", "decision.handler", DECISION_TIMEOUT)
        # Shorter than its tasks' 5-minute timeout: a timed-out task's Lambda has ended
        # before Rollback starts acting on the same function.
        self.canary = factory.function("Canary", "canary.handler", Duration.minutes(4))


class EntryFunctions:
    """The functions that run outside any execution: Detect (the CloudTrail event) and Scan
    (the schedule) start and stop executions; Posture reads, tells image owners, and starts the
    ladder of each FunctionUpdate function left behind."""

    def __init__(
        self,
        factory: FunctionFactory,
        settings: Settings,
        state_machine: sfn.IStateMachine,
        canary: lambda_.IFunction,
    ) -> None:
        self.detect = factory.function(
            "Detect",
            "detect.handler",
            Duration.seconds(30),
            STATE_MACHINE_ARN=state_machine.state_machine_arn,
        )
        self.scan = factory.function(
            "Scan",
            "scan.handler",
            Duration.minutes(15),
            STATE_MACHINE_ARN=state_machine.state_machine_arn,
            SCAN_RATE_PER_SECOND=str(settings.scan_rate_per_second),
            SCAN_FULL_EVERY=str(settings.scan_full_every),
            # A canary whose execution died is restored by the canary's own rollback.
            CANARY_FUNCTION=canary.function_name,
        )
        # The shared-responsibility table, daily: per-row gauges and image owner notices.
        self.posture = factory.function(
            "Posture",
            "posture.handler",
            Duration.minutes(15),
            SCAN_RATE_PER_SECOND=str(settings.scan_rate_per_second),
            # It opens the ledger item and ladder of each FunctionUpdate function left behind.
            STATE_MACHINE_ARN=state_machine.state_machine_arn,
        )


def _powertools_account(stack: Stack) -> str:
    """The layer's publisher account for the stack's region.

    With a concrete region, known at synth: an unsupported one fails the synth. An
    environment-agnostic stack looks the region up at deploy: the commercial account in the
    `aws` partition, the mapping elsewhere (CloudFormation refuses a region it lacks)."""
    region = stack.region
    if not Token.is_unresolved(region):
        if region in POWERTOOLS_ACCOUNTS_BY_REGION:
            return POWERTOOLS_ACCOUNTS_BY_REGION[region]
        if region.startswith(("cn-", "us-gov-", "us-iso", "eu-isoe-")):
            supported = ", ".join(sorted(POWERTOOLS_ACCOUNTS_BY_REGION))
            raise UnsupportedRegion(
                f"no Powertools for AWS Lambda (Python) layer is published in {region}; "
                f"outside the commercial partition rollforward supports {supported}"
            )
        return POWERTOOLS_COMMERCIAL_ACCOUNT
    mapping = CfnMapping(
        stack,
        "PowertoolsLayerAccount",
        mapping={r: {"account": a} for r, a in POWERTOOLS_ACCOUNTS_BY_REGION.items()},
    )
    commercial = CfnCondition(
        stack, "CommercialPartition", expression=Fn.condition_equals(Aws.PARTITION, "aws")
    )
    return Token.as_string(
        Fn.condition_if(
            commercial.logical_id,
            POWERTOOLS_COMMERCIAL_ACCOUNT,
            mapping.find_in_map(Aws.REGION, "account"),
        )
    )
