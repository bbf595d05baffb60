"""Deployment settings, read from cdk.json context (override with `cdk deploy -c key=value`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from constructs import Node


@dataclass(frozen=True)
class Settings:
    # The rollforward policy document (escalation ladder, approvals, canary); validated at synth.
    policy: dict[str, Any] = field(default_factory=dict)
    scan_schedule: str = "rate(1 hour)"
    # Share of the account's 15 req/s control-plane bucket the scan may spend.
    scan_rate_per_second: float = 3.0
    # A full reconciliation every N scheduled scans, GetFunction screening in between
    # (rollforward.scan.screening); 1: every scan is full.
    scan_full_every: int = 1
    audit_retention_days: int = 3653
    powertools_layer_version: int = 27
    console_url: str = ""
    # AWS::ApiGateway::Account is one per account and region: the stack only sets it (with a
    # CloudWatch role it creates) when asked. Off: the region's API Gateway CloudWatch role must
    # already be set (API Gateway console > Settings), or the stage's logging fails to deploy.
    api_gateway_cloudwatch_role: bool = False
    # Hub and spokes (infra/constructs/members.py): the Organization whose accounts the hub
    # serves (empty: a single-account install), the OUs (or root) and regions the member
    # StackSet deploys to, and how the StackSet is called (DELEGATED_ADMIN from a delegated
    # administrator account, SELF from the management account).
    organization_id: str = ""
    member_ous: tuple[str, ...] = ()
    member_regions: tuple[str, ...] = ()
    stackset_call_as: str = "DELEGATED_ADMIN"

    @classmethod
    def from_context(cls, node: Node) -> Settings:
        def get(key: str, default: Any) -> Any:
            value = node.try_get_context(key)
            if isinstance(value, str) and key == "policy":
                value = json.loads(value)  # `-c policy='{...}'` arrives as text
            return default if value is None else value

        return cls(
            policy=get("policy", {}),
            scan_schedule=get("scan_schedule", cls.scan_schedule),
            scan_rate_per_second=float(get("scan_rate_per_second", cls.scan_rate_per_second)),
            scan_full_every=_at_least_one("scan_full_every", get("scan_full_every", 1)),
            audit_retention_days=int(get("audit_retention_days", cls.audit_retention_days)),
            powertools_layer_version=int(
                get("powertools_layer_version", cls.powertools_layer_version)
            ),
            console_url=get("console_url", ""),
            api_gateway_cloudwatch_role=_flag(
                "api_gateway_cloudwatch_role", get("api_gateway_cloudwatch_role", False)
            ),
            organization_id=str(get("organization_id", "")),
            member_ous=_names(get("member_ous", ())),
            member_regions=_names(get("member_regions", ())),
            stackset_call_as=str(get("stackset_call_as", cls.stackset_call_as)),
        )

    @property
    def is_hub(self) -> bool:
        """Serving an Organization's member accounts (else: its own account only)."""
        return bool(self.organization_id)


def _at_least_one(key: str, value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"context {key} must be a whole number of scans, at least 1: {value!r}")
    return number


def _flag(key: str, value: Any) -> bool:
    """A boolean context value: JSON true/false, or the text `-c key=true` passes."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"context {key} must be true or false, not {value!r}")


def _names(value: Any) -> tuple[str, ...]:
    """A list context value: JSON list, or the text `-c key=a,b` passes."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(str(part) for part in value)
