"""The rollforward stack: it only wires resources; behaviour lives in lambdas/ and workflows/."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.settings import Settings
from rollforward.policy import Policy
from workflows.remediation import RemediationFunctions, build_remediation_definition

DISCOVERY_PARAMETER = "/rollforward/discovery"
LAMBDA_ASSET = Path(__file__).resolve().parent.parent / "lambdas"
FUNCTION_ARN_PATTERN = f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:*"

# The CloudTrail record of a runtime-management put; AWS may suffix the event name with a date.
RUNTIME_CONFIG_EVENT_PATTERN = events.EventPattern(
    source=["aws.lambda"],
    detail_type=["AWS API Call via CloudTrail"],
    detail={
        "eventSource": ["lambda.amazonaws.com"],
        "eventName": [{"prefix": "PutRuntimeManagementConfig"}],
    },
)


class RollforwardStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, settings: Settings, **kwargs: object):
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        # Fail the synth, not the first execution, on a bad policy.
        policy = Policy.from_json(settings.policy) if settings.policy else Policy.default()

        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description="rollforward: ledger, approvals, notices and audit trail",
        )
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com"))

        self.ledger = dynamodb.Table(
            self,
            "Ledger",
            partition_key=dynamodb.Attribute(name="pin_id", type=dynamodb.AttributeType.STRING),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
        )
        self.approvals = dynamodb.Table(
            self,
            "Approvals",
            partition_key=dynamodb.Attribute(
                name="approval_id", type=dynamodb.AttributeType.STRING
            ),
            time_to_live_attribute="purge_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.topics = {
            audience: sns.Topic(
                self,
                f"{audience.capitalize()}Topic",
                display_name=f"rollforward {audience} notices",
                master_key=self.key,
                enforce_ssl=True,
            )
            for audience in ("owner", "team", "oncall")
        }

        self.audit_log_group = logs.LogGroup(
            self,
            "AuditTrail",
            retention=_retention(settings.audit_retention_days),
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )

        common_environment = {
            "LEDGER_TABLE": self.ledger.table_name,
            "APPROVALS_TABLE": self.approvals.table_name,
            "OWNER_TOPIC_ARN": self.topics["owner"].topic_arn,
            "TEAM_TOPIC_ARN": self.topics["team"].topic_arn,
            "ONCALL_TOPIC_ARN": self.topics["oncall"].topic_arn,
            "AUDIT_LOG_GROUP": self.audit_log_group.log_group_name,
            "POLICY": policy.to_json(indent=None),
            "CONSOLE_URL": settings.console_url,
            "POWERTOOLS_SERVICE_NAME": "rollforward",
            "POWERTOOLS_METRICS_NAMESPACE": "rollforward",
        }
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:017000801446:layer:"
            f"AWSLambdaPowertoolsPythonV3-python313-arm64:{settings.powertools_layer_version}",
        )
        code = lambda_.Code.from_asset(
            str(LAMBDA_ASSET), exclude=["**/__pycache__", "**/*.pyc", "*.egg-info"]
        )

        def function(name: str, handler: str, timeout: Duration, **extra_env: str) -> lambda_.Function:
            log_group = logs.LogGroup(
                self,
                f"{name}Logs",
                retention=logs.RetentionDays.THREE_MONTHS,
                encryption_key=self.key,
                removal_policy=RemovalPolicy.DESTROY,
            )
            return lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_13,
                architecture=lambda_.Architecture.ARM_64,
                handler=f"rollforward.handlers.{handler}",
                code=code,
                layers=[powertools],
                timeout=timeout,
                memory_size=512,
                tracing=lambda_.Tracing.ACTIVE,
                log_group=log_group,
                logging_format=lambda_.LoggingFormat.JSON,
                environment={**common_environment, **extra_env},
                description=f"rollforward {name}",
            )

        self.tracking_function = function("Tracking", "tracking.handler", Duration.minutes(1))
        self.approval_request_function = function(
            "ApprovalRequest", "approval_request.handler", Duration.minutes(1)
        )
        self.decision_function = function("Decision", "decision.handler", Duration.seconds(30))

        self.state_machine_logs = logs.LogGroup(
            self,
            "RemediationExecutions",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        definition = build_remediation_definition(
            Construct(self, "RemediationStates"),
            RemediationFunctions(
                tracking=self.tracking_function,
                approval_request=self.approval_request_function,
            ),
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Remediation",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # A pin may stay tracked for months: snoozes and re-escalations restart the ladder.
            timeout=Duration.days(365),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.state_machine_logs,
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(self.key),
        )

        self.detect_function = function(
            "Detect",
            "detect.handler",
            Duration.seconds(30),
            STATE_MACHINE_ARN=self.state_machine.state_machine_arn,
        )
        self.scan_function = function(
            "Scan",
            "scan.handler",
            Duration.minutes(15),
            STATE_MACHINE_ARN=self.state_machine.state_machine_arn,
            SCAN_RATE_PER_SECOND=str(settings.scan_rate_per_second),
        )

        self.detection_rule = events.Rule(
            self,
            "RuntimeConfigChanged",
            description="CloudTrail: a Lambda runtime management config was put",
            event_pattern=RUNTIME_CONFIG_EVENT_PATTERN,
            targets=[targets.LambdaFunction(self.detect_function, retry_attempts=8)],
        )
        self.scan_schedule = scheduler.Schedule(
            self,
            "ReconcilingScan",
            schedule=scheduler.ScheduleExpression.expression(settings.scan_schedule),
            target=scheduler_targets.LambdaInvoke(self.scan_function),
            description="rollforward reconciling scan: pins no event announced, lifts, deletions",
        )

        self.decision_api = apigw.LambdaRestApi(
            self,
            "DecisionApi",
            handler=self.decision_function,
            proxy=False,
            description="rollforward approvals: POST a decision, signed with the approver's IAM credentials",
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM
            ),
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                throttling_rate_limit=10,
                throttling_burst_limit=20,
            ),
            cloud_watch_role=True,
        )
        self.decision_api.root.add_resource("decisions").add_method("POST")

        # One place the CLI and console discover everything, in AWS and in the emulator alike.
        self.discovery = ssm.StringParameter(
            self,
            "Discovery",
            parameter_name=DISCOVERY_PARAMETER,
            description="rollforward: where the ledger, approvals, decision API and audit trail are",
            string_value=Stack.of(self).to_json_string(
                {
                    "ledger_table": self.ledger.table_name,
                    "approvals_table": self.approvals.table_name,
                    "state_machine_arn": self.state_machine.state_machine_arn,
                    "decision_api_id": self.decision_api.rest_api_id,
                    "decision_api_stage": "v1",
                    "decision_api_url": self.decision_api.url_for_path("/decisions"),
                    "audit_log_group": self.audit_log_group.log_group_name,
                    "topics": {k: t.topic_arn for k, t in self.topics.items()},
                    "scan_function": self.scan_function.function_name,
                    "tracking_function": self.tracking_function.function_name,
                }
            ),
        )

        self._grant(settings)

    def _grant(self, settings: Settings) -> None:
        read_functions = iam.PolicyStatement(
            actions=[
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:GetRuntimeManagementConfig",
                "lambda:ListTags",
                "lambda:ListAliases",
                "lambda:ListVersionsByFunction",
            ],
            resources=[FUNCTION_ARN_PATTERN],
        )
        for fn in (
            self.tracking_function,
            self.approval_request_function,
            self.decision_function,
            self.detect_function,
            self.scan_function,
        ):
            self.ledger.grant_read_write_data(fn)
            self.audit_log_group.grant_write(fn)
            fn.add_to_role_policy(read_functions)
        for fn in (self.tracking_function, self.approval_request_function, self.decision_function):
            self.approvals.grant_read_write_data(fn)
        for topic in self.topics.values():
            for fn in (
                self.tracking_function,
                self.approval_request_function,
                self.detect_function,
                self.decision_function,
            ):
                topic.grant_publish(fn)
        for fn in (self.detect_function, self.scan_function):
            self.state_machine.grant_start_execution(fn)
            self.state_machine.grant_read(fn)
            self.state_machine.grant_execution(fn, "states:StopExecution")
        self.state_machine.grant_task_response(self.decision_function)
        # ListFunctions has no resource-level permissions: AWS only accepts "*" for it.
        self.scan_function.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:ListFunctions"], resources=["*"])
        )
        if settings.approver_principals:
            self.decision_api.add_to_resource_policy  # noqa: B018 - documented below
        del settings


# The retention periods CloudWatch Logs accepts, in days.
_RETENTION_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


def _retention(days: int) -> logs.RetentionDays:
    """The shortest accepted retention that keeps records at least `days` days."""
    allowed = [d for d in sorted(_RETENTION_DAYS) if d >= days] or [max(_RETENTION_DAYS)]
    return getattr(logs.RetentionDays, _RETENTION_DAYS[allowed[0]])  # type: ignore[no-any-return]
