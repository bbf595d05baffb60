"""The decision API: API Gateway REST, `POST /decisions` on stage `v1`, IAM-authorized (the
approver is the caller's IAM ARN), throttled at the stage, with JSON access logs kept as long
as the audit trail (who called, from where, with what answer, is part of an approval's evidence).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from infra.constructs import acknowledge
from infra.constructs.storage import Storage, retention
from infra.settings import Settings

# API Gateway's integration timeout is 29 s; a function behind it must end before that.
API_INTEGRATION_TIMEOUT_SECONDS = 29
DECISION_TIMEOUT = Duration.seconds(25)
STAGE = "v1"


class DecisionApi:
    """The REST API in front of the decision function, in the stack's own scope."""

    def __init__(
        self, stack: Stack, settings: Settings, storage: Storage, handler: lambda_.IFunction
    ) -> None:
        self.rest_api = apigw.LambdaRestApi(
            stack,
            "DecisionApi",
            handler=handler,
            proxy=False,
            description="rollforward approvals: POST a decision, signed with the approver's IAM credentials",
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM
            ),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                throttling_rate_limit=10,
                throttling_burst_limit=20,
                # Who called, from where, with what answer: part of the approvals' evidence.
                access_log_destination=apigw.LogGroupLogDestination(
                    logs.LogGroup(
                        stack,
                        "DecisionApiAccessLogs",
                        retention=retention(settings.audit_retention_days),
                        encryption_key=storage.key,
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
        decisions_post = self.rest_api.root.add_resource("decisions").add_method("POST")
        acknowledge(
            self.rest_api,
            "APIG2",
            "The decision handler validates the body itself so that every refused request is "
            "written to the audit trail with the caller's IAM identity; a request validator "
            "would answer 400 before anything is audited. Access logs record every call.",
        )
        acknowledge(
            self.rest_api,
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
                self.rest_api,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's CloudWatch role is one per account and region, shared by every "
                "REST API there: it must create and write the execution log groups API Gateway "
                "names itself, which is what this AWS managed policy (the documented one) grants.",
            )

    @property
    def decisions_url(self) -> str:
        return self.rest_api.url_for_path("/decisions")
