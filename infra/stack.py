"""The rollforward stack: it only wires resources; behaviour lives in lambdas/ and workflows/."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnCondition, CfnMapping, Duration, Fn, RemovalPolicy, Stack, Token
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
from rollforward.model import discovery_parameter
from rollforward.policy import Policy

from infra.constructs import (
    Observability,
    acknowledge,
    executions_wildcard_finding,
    qualified_arn_wildcard_finding,
    role_of,
)
from infra.settings import Settings
from workflows.remediation import RemediationFunctions, build_remediation_definition

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


# API Gateway's integration timeout is 29 s; a function behind it must end before that.
API_INTEGRATION_TIMEOUT_SECONDS = 29
DECISION_TIMEOUT = Duration.seconds(25)

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
        # CloudWatch Logs encrypts this stack's log groups: only for log groups of this account
        # and region (the encryption context CloudWatch Logs sets names the log group).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )

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
            f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{self._powertools_account()}:layer:"
            f"AWSLambdaPowertoolsPythonV3-python313-arm64:{settings.powertools_layer_version}",
        )
        code = lambda_.Code.from_asset(
            str(LAMBDA_ASSET), exclude=["**/__pycache__", "**/*.pyc", "*.egg-info"]
        )

        def function(
            name: str, handler: str, timeout: Duration, **extra_env: str
        ) -> lambda_.Function:
            log_group = logs.LogGroup(
                self,
                f"{name}Logs",
                retention=logs.RetentionDays.THREE_MONTHS,
                encryption_key=self.key,
                removal_policy=RemovalPolicy.DESTROY,
            )
            # Not AWSLambdaBasicExecutionRole: that grants log writes to every log group.
            role = iam.Role(
                self,
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
                self,
                name,
                role=role,
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
            acknowledge(
                fn,
                "L1",
                "Python 3.13 on purpose: the Powertools layer is built per Python minor version "
                "(python313-arm64) and the handlers are tested on 3.13. Moving to a newer minor "
                "version is a reviewed change of both; runtime version updates within 3.13 stay "
                "on Auto.",
            )
            return fn

        self.tracking_function = function("Tracking", "tracking.handler", Duration.minutes(1))
        self.approval_request_function = function(
            "ApprovalRequest", "approval_request.handler", Duration.minutes(1)
        )
        # Below API Gateway's 29-second integration timeout: the caller gets the handler's
        # answer (or its error), never a 504 for a decision that may have been recorded.
        self.decision_function = function("Decision", "decision.handler", DECISION_TIMEOUT)
        # Shorter than its tasks' 5-minute timeout: a timed-out task's Lambda has ended
        # before Rollback starts acting on the same function.
        self.canary_function = function("Canary", "canary.handler", Duration.minutes(4))

        self.state_machine_logs = logs.LogGroup(
            self,
            "RemediationExecutions",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        remediation_functions = RemediationFunctions(
            tracking=self.tracking_function,
            approval_request=self.approval_request_function,
            canary=self.canary_function,
        )
        definition = build_remediation_definition(
            Construct(self, "RemediationStates"), remediation_functions
        )
        # Named, so that functions the machine invokes can be granted rights on its executions
        # without a reference back to it (which would be a dependency cycle).
        self.state_machine_name = f"{Stack.of(self).stack_name}-remediation"
        self.state_machine = sfn.StateMachine(
            self,
            "Remediation",
            state_machine_name=self.state_machine_name,
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
                destination=self.state_machine_logs,
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(self.key),
        )
        acknowledge(
            self.state_machine,
            "IAM5[Resource::*]",
            "Execution logging and X-Ray: logs:*LogDelivery*, logs:PutResourcePolicy, "
            "logs:DescribeResourcePolicies, logs:DescribeLogGroups and xray:* trace actions have "
            "no resource-level permissions, AWS only accepts Resource '*'.",
        )
        for task_function in vars(remediation_functions).values():
            acknowledge(
                self.state_machine,
                qualified_arn_wildcard_finding(task_function),
                "Lambda tasks may invoke versions and aliases of this one rollforward function.",
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
            SCAN_FULL_EVERY=str(settings.scan_full_every),
            # A canary whose execution died is restored by the canary's own rollback.
            CANARY_FUNCTION=self.canary_function.function_name,
        )

        # The shared-responsibility table, daily: per-row gauges and image owner notices.
        self.posture_function = function(
            "Posture",
            "posture.handler",
            Duration.minutes(15),
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
        # The target's role is a stack-level singleton the L2 makes, hence acknowledged here.
        acknowledge(
            self,
            qualified_arn_wildcard_finding(self.scan_function),
            "EventBridge Scheduler may invoke versions and aliases of the scan function only.",
        )

        self.posture_schedule = scheduler.Schedule(
            self,
            "PostureReport",
            schedule=scheduler.ScheduleExpression.expression("rate(1 day)"),
            target=scheduler_targets.LambdaInvoke(self.posture_function),
            description="rollforward posture report: the shared-responsibility table, per row",
        )
        acknowledge(
            self,
            qualified_arn_wildcard_finding(self.posture_function),
            "EventBridge Scheduler may invoke versions and aliases of the posture function only.",
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
                # Who called, from where, with what answer: part of the approvals' evidence.
                access_log_destination=apigw.LogGroupLogDestination(
                    logs.LogGroup(
                        self,
                        "DecisionApiAccessLogs",
                        retention=_retention(settings.audit_retention_days),
                        encryption_key=self.key,
                        removal_policy=RemovalPolicy.RETAIN,
                    )
                ),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
            # Not owned by default: AWS::ApiGateway::Account is a per-region singleton that
            # would overwrite (and on delete, orphan) the CloudWatch role other APIs rely on.
            cloud_watch_role=settings.api_gateway_cloudwatch_role,
        )
        decisions_post = self.decision_api.root.add_resource("decisions").add_method("POST")
        acknowledge(
            self.decision_api,
            "APIG2",
            "The decision handler validates the body itself so that every refused request is "
            "written to the audit trail with the caller's IAM identity; a request validator "
            "would answer 400 before anything is audited. Access logs record every call.",
        )
        acknowledge(
            self.decision_api,
            "APIG3",
            "No WAF: the API only accepts SigV4-signed requests (AWS_IAM), throttled at the "
            "stage (10 req/s, burst 20); unsigned requests are refused by API Gateway itself.",
        )
        acknowledge(
            decisions_post,
            "COG4",
            "Approvers are IAM principals (AWS_IAM authorization) by design: the audit trail "
            "records the caller's IAM ARN, and the policy's allowed_approvers matches it.",
        )
        if settings.api_gateway_cloudwatch_role:
            acknowledge(
                self.decision_api,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's CloudWatch role is one per account and region, shared by every "
                "REST API there: it must create and write the execution log groups API Gateway "
                "names itself, which is what this AWS managed policy (the documented one) grants.",
            )

        # One place the CLI and console discover everything, in AWS and in the emulator alike.
        self.discovery = ssm.StringParameter(
            self,
            "Discovery",
            parameter_name=discovery_parameter(Stack.of(self).stack_name),
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

        self.observability = Observability(
            self,
            "Observability",
            audit_log_group=self.audit_log_group,
            state_machine=self.state_machine,
            # Every rollforward function, so a new one is on the dashboard without a list to keep.
            functions={
                child.node.id: child
                for child in self.node.children
                if isinstance(child, lambda_.Function)
            },
            key=self.key,
            oncall_topic=self.topics["oncall"],
        )

        self._grant(settings)
        self._narrow_log_delivery_key_use()

    def _powertools_account(self) -> str:
        """The layer's publisher account for the stack's region.

        With a concrete region, known at synth: an unsupported one fails the synth. An
        environment-agnostic stack looks the region up at deploy: the commercial account in the
        `aws` partition, the mapping elsewhere (CloudFormation refuses a region it lacks)."""
        region = Stack.of(self).region
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
            self,
            "PowertoolsLayerAccount",
            mapping={r: {"account": a} for r, a in POWERTOOLS_ACCOUNTS_BY_REGION.items()},
        )
        commercial = CfnCondition(
            self, "CommercialPartition", expression=Fn.condition_equals(Aws.PARTITION, "aws")
        )
        return Token.as_string(
            Fn.condition_if(
                commercial.logical_id,
                POWERTOOLS_COMMERCIAL_ACCOUNT,
                mapping.find_in_map(Aws.REGION, "account"),
            )
        )

    def _narrow_log_delivery_key_use(self) -> None:
        """The state machine's L2 lets `delivery.logs.amazonaws.com` decrypt with the key
        unconditionally (execution logs to an encrypted group); add the confused-deputy
        conditions AWS documents for vended log delivery: this account's log deliveries only."""
        cfn_key = self.key.node.default_child
        assert isinstance(cfn_key, kms.CfnKey)
        statements = self.resolve(cfn_key.key_policy)["Statement"]
        for index, statement in enumerate(statements):
            if statement.get("Principal") == {"Service": "delivery.logs.amazonaws.com"}:
                cfn_key.add_property_override(
                    f"KeyPolicy.Statement.{index}.Condition",
                    {
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnLike": {
                            "aws:SourceArn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:"
                            f"{Aws.ACCOUNT_ID}:*"
                        },
                    },
                )

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
            for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
                acknowledge(
                    role_of(fn),
                    f"IAM5[Action::{action}]",
                    "CDK's grants for the KMS-encrypted tables and topics: the ReEncrypt* and "
                    "GenerateDataKey* action families on the stack's own key ARN only.",
                )
        # The decision function only records decisions: it reads only runtime settings (below).
        for fn in (
            self.tracking_function,
            self.approval_request_function,
            self.detect_function,
            self.scan_function,
        ):
            fn.add_to_role_policy(read_functions)
            acknowledge(
                role_of(fn),
                "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]",
                "rollforward watches every function of the account and region: read-only "
                "Get*/List* actions on function:*; no mutating action is granted on a wildcard.",
            )
        for fn in (self.tracking_function, self.approval_request_function, self.decision_function):
            self.approvals.grant_read_write_data(fn)
        # A decision re-reads the live setting: a lifted or deleted pin is refused, not approved.
        self.decision_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:GetRuntimeManagementConfig"], resources=[FUNCTION_ARN_PATTERN]
            )
        )
        acknowledge(
            role_of(self.decision_function),
            "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]",
            "The decision API reads one action, GetRuntimeManagementConfig, of the function an "
            "approval names (any function of this account and region may be pinned).",
        )
        for topic in self.topics.values():
            # The scan closes lifted pins, and closing one tells its owner (Tracker.close).
            for fn in (
                self.tracking_function,
                self.approval_request_function,
                self.detect_function,
                self.scan_function,
            ):
                topic.grant_publish(fn)
        # Only Detect and Scan, which run outside any execution, start and stop executions
        # (STATE_MACHINE_ARN is theirs alone). Tracking, ApprovalRequest and the canary are the
        # machine's own tasks: when their live check finds the pin lifted they close it and
        # return "closed", and their execution ends itself (SUCCEEDED). A task that stopped its
        # own execution would lose its result and end it ABORTED.
        # Detect starts and stops; the scan also lists and describes (its dead-execution phase).
        # tests/infra/test_iam_crosscheck.py holds these to the calls the code makes.
        execution_actions = (
            (self.detect_function, ("states:StopExecution",)),
            (self.scan_function, ("states:DescribeExecution", "states:StopExecution")),
        )
        # Continue-as-new: tracking starts the successor of its own execution (by name).
        self.tracking_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[
                    f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:"
                    f"{self.state_machine_name}"
                ],
            )
        )
        for fn, actions in execution_actions:
            self.state_machine.grant_start_execution(fn)
            if fn is self.scan_function:
                # Not grant_read: it adds states:ListActivities and DescribeActivity on "*".
                self.state_machine.grant(fn, "states:ListExecutions")
            self.state_machine.grant_execution(fn, *actions)
            acknowledge(
                role_of(fn),
                executions_wildcard_finding(self.state_machine),
                "Describe and stop executions of the remediation state machine only: execution "
                "names are per pin and not known at deploy time.",
            )
        # The decision API answers callbacks (success only: a rejection is a decision too);
        # ApprovalRequest answers its own when the pin ended while the approval was being
        # requested (handlers/approval_request.py).
        self.state_machine.grant(self.decision_function, "states:SendTaskSuccess")
        # By name, not by reference: the machine already refers to this function (a cycle).
        self.approval_request_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess"],
                resources=[
                    f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:"
                    f"{self.state_machine_name}"
                ],
            )
        )
        # ListFunctions has no resource-level permissions: AWS only accepts "*" for it.
        self.scan_function.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:ListFunctions"], resources=["*"])
        )
        acknowledge(
            role_of(self.scan_function),
            "IAM5[Resource::*]",
            "lambda:ListFunctions (the scan's inventory) and X-Ray's trace actions have no "
            "resource-level permissions, AWS only accepts Resource '*'.",
        )
        # The scan restores a dead canary by invoking the canary's rollback: the canary
        # function stays the only one that changes the fleet.
        self.canary_function.grant_invoke(self.scan_function)
        acknowledge(
            role_of(self.scan_function),
            qualified_arn_wildcard_finding(self.canary_function),
            "The scan may invoke versions and aliases of the canary function only (its rollback).",
        )
        self._grant_canary()
        self._grant_posture(read_functions)

    def _grant_posture(self, read_functions: iam.PolicyStatement) -> None:
        """Read-only: every function's settings, the ECR images they run, the templates of the
        stacks that manage them, the open pins; publish to the owner topic (image notices)."""
        fn = self.posture_function
        self.ledger.grant_read_data(fn)
        self.topics["owner"].grant_publish(fn)
        fn.add_to_role_policy(read_functions)
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:ListFunctions"], resources=["*"])
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecr:DescribeImages"],
                resources=[f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{Aws.ACCOUNT_ID}:repository/*"],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudformation:GetTemplate"],
                resources=[
                    f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/*/*"
                ],
            )
        )
        # The approval request says when the function's own template would re-pin it.
        get_template = iam.PolicyStatement(
            actions=["cloudformation:GetTemplate"],
            resources=[
                f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/*/*"
            ],
        )
        self.approval_request_function.add_to_role_policy(get_template)
        acknowledge(
            role_of(self.approval_request_function),
            "IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/*/*]",
            "cloudformation:GetTemplate of the stack named by the pinned function's "
            "aws:cloudformation:stack-name tag: any stack of this account and region.",
        )
        role = role_of(fn)
        for finding, reason in (
            (
                "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]",
                "The posture report reads every function of the account and region: read-only "
                "Get*/List* actions on function:*.",
            ),
            (
                "IAM5[Resource::*]",
                "lambda:ListFunctions (the inventory) and X-Ray's trace actions have no "
                "resource-level permissions, AWS only accepts Resource '*'.",
            ),
            (
                "IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/*]",
                "ecr:DescribeImages of the repository an image function was deployed from: any "
                "repository of this account and region may hold one.",
            ),
            (
                "IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/*/*]",
                "cloudformation:GetTemplate of the stack named by a function's "
                "aws:cloudformation:stack-name tag: any stack of this account and region.",
            ),
            (
                "IAM5[Action::kms:GenerateDataKey*]",
                "CDK's grant to publish to the KMS-encrypted owner topic: the stack's own key only.",
            ),
        ):
            acknowledge(role, finding, reason)

    def _grant_canary(self) -> None:
        """The only function that changes the fleet: runtime settings, versions and aliases,
        on function ARNs only; it reads metrics, alarms, INIT_START logs and test events."""
        fn = self.canary_function
        self.ledger.grant_read_write_data(fn)
        self.audit_log_group.grant_write(fn)
        for topic in self.topics.values():
            topic.grant_publish(fn)
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:GetRuntimeManagementConfig",
                    "lambda:PutRuntimeManagementConfig",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:PublishVersion",
                    "lambda:ListTags",
                    "lambda:ListAliases",
                    "lambda:GetAlias",
                    "lambda:UpdateAlias",
                    "lambda:InvokeFunction",
                ],
                resources=[FUNCTION_ARN_PATTERN, f"{FUNCTION_ARN_PATTERN}:*"],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["logs:FilterLogEvents"],
                # Any group: a function's LoggingConfig.LogGroup may name any group it writes to.
                resources=[f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter"],
                resources=[
                    f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter/rollforward/test-events/*"
                ],
            )
        )
        # GetMetricData and DescribeAlarms have no resource-level permissions.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"], resources=["*"]
            )
        )
        for finding, reason in (
            (
                "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]",
                "The canary rolls forward whichever function on-call approved: function ARNs of "
                "this account and region only, never another service's resources.",
            ),
            (
                "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*:*]",
                "Published versions and aliases of the approved function (qualified ARNs).",
            ),
            (
                "IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]",
                "INIT_START records of the approved function, the ground truth of the runtime "
                "that ran, in whichever group its LoggingConfig names (read-only: FilterLogEvents).",
            ),
            (
                "IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/rollforward/test-events/*]",
                "Owners' test events live under /rollforward/test-events/.",
            ),
            (
                "IAM5[Resource::*]",
                "cloudwatch:GetMetricData/DescribeAlarms and X-Ray accept only Resource '*'.",
            ),
            ("IAM5[Action::kms:ReEncrypt*]", "CDK grants on the stack's own key only."),
            ("IAM5[Action::kms:GenerateDataKey*]", "CDK grants on the stack's own key only."),
        ):
            acknowledge(role_of(fn), finding, reason)


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
