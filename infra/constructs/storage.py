"""Where rollforward keeps its state: the KMS key, the ledger and approvals tables, the audit
trail's log group.

Everything is encrypted with the one customer-managed key. The tables and the audit log group
are retained when the stack is deleted (the ledger and the audit trail are evidence), and the
ledger has deletion protection. Their logical ids must never change: a changed id replaces the
resource on deploy, and a retained table replaced is a ledger left behind (see infra/stack.py).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from infra.settings import Settings

# The retention periods CloudWatch Logs accepts, in days.
_RETENTION_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


def retention(days: int) -> logs.RetentionDays:
    """The shortest accepted retention that keeps records at least `days` days."""
    allowed = [d for d in sorted(_RETENTION_DAYS) if d >= days] or [max(_RETENTION_DAYS)]
    return getattr(logs.RetentionDays, _RETENTION_DAYS[allowed[0]])  # type: ignore[no-any-return]


class Storage:
    """The key, the two tables and the audit trail's log group, in the stack's own scope."""

    def __init__(self, stack: Stack, settings: Settings) -> None:
        self.key = kms.Key(
            stack,
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

        self.ledger = self._table(stack, "Ledger", "pin_id", deletion_protection=True)
        self.approvals = self._table(
            stack, "Approvals", "approval_id", time_to_live_attribute="purge_at"
        )
        self.audit_log_group = logs.LogGroup(
            stack,
            "AuditTrail",
            retention=retention(settings.audit_retention_days),
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _table(
        self, stack: Stack, construct_id: str, partition_key: str, **extra: Any
    ) -> dynamodb.Table:
        """A retained, on-demand table with point-in-time recovery, encrypted with the key."""
        return dynamodb.Table(
            stack,
            construct_id,
            partition_key=dynamodb.Attribute(
                name=partition_key, type=dynamodb.AttributeType.STRING
            ),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=RemovalPolicy.RETAIN,
            **extra,
        )

    def narrow_log_delivery_key_use(self) -> None:
        """The state machine's L2 lets `delivery.logs.amazonaws.com` decrypt with the key
        unconditionally (execution logs to an encrypted group); add the confused-deputy
        conditions AWS documents for vended log delivery: this account's log deliveries only.

        Call it last: it edits the key policy statements every other part has added."""
        cfn_key = self.key.node.default_child
        assert isinstance(cfn_key, kms.CfnKey)
        stack = Stack.of(self.key)
        statements = stack.resolve(cfn_key.key_policy)["Statement"]
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
