"""Where notices go: one SNS topic per audience (owner, team, on-call), KMS-encrypted and
TLS-only. Subscriptions are the deployer's (email, chat, paging): the stack only owns the topics."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns

AUDIENCES = ("owner", "team", "oncall")


class Notices:
    """The three topics, by audience, in the stack's own scope (see infra/stack.py)."""

    def __init__(self, stack: Stack, key: kms.IKey) -> None:
        self.topics = {
            audience: sns.Topic(
                stack,
                f"{audience.capitalize()}Topic",
                display_name=f"rollforward {audience} notices",
                master_key=key,
                enforce_ssl=True,
            )
            for audience in AUDIENCES
        }

    @property
    def owner(self) -> sns.Topic:
        return self.topics["owner"]

    @property
    def oncall(self) -> sns.Topic:
        return self.topics["oncall"]

    def environment(self) -> dict[str, str]:
        """What every function is told of the topics (`handlers/wiring.py` reads it)."""
        return {
            "OWNER_TOPIC_ARN": self.topics["owner"].topic_arn,
            "TEAM_TOPIC_ARN": self.topics["team"].topic_arn,
            "ONCALL_TOPIC_ARN": self.topics["oncall"].topic_arn,
        }
