"""A re-pin made by CloudFormation after a promotion is drift, not a new incident.

When a function whose pin rollforward resolved (promoted to Auto) is pinned again, and the
CloudTrail record says CloudFormation made the call (`userIdentity.invokedBy`
`cloudformation.amazonaws.com`, or an `AWSCloudFormation` session of a stack's service role),
the stack's template re-applied its `RuntimeManagementConfig`: the fix is in the template,
not another canary. `classify_repin` says so, and `drift_entry` is what goes on the same ledger
item (its `evidence["drift"]` list) with the stack and the property.

Pure; the detection handler (which owns the ledger write) calls it — see what is not wired yet
in the closing note of issue 13.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollforward.posture.templates import TemplatePin

CLOUDFORMATION = "cloudformation.amazonaws.com"
SESSION_NAME = "AWSCloudFormation"


def made_by_cloudformation(user_identity: Mapping[str, Any] | None) -> bool:
    """Whether a CloudTrail `userIdentity` is CloudFormation acting for a stack."""
    if not isinstance(user_identity, Mapping):
        return False
    if user_identity.get("invokedBy") == CLOUDFORMATION:
        return True
    arn = user_identity.get("arn")
    return (
        user_identity.get("type") == "AssumedRole"
        and isinstance(arn, str)
        and arn.endswith(f"/{SESSION_NAME}")
    )


@dataclass(frozen=True, slots=True)
class Drift:
    stack_name: str
    property_path: str
    runtime_version_arn: str
    at: datetime
    by: str

    def entry(self) -> dict[str, str]:
        return {
            "kind": "cloudformation_repin",
            "stack": self.stack_name,
            "property": self.property_path,
            "runtime_version_arn": self.runtime_version_arn,
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "by": self.by,
        }


def classify_repin(
    *,
    previously_promoted: bool,
    user_identity: Mapping[str, Any] | None,
    stack_name: str,
    template_pin: TemplatePin | None,
    runtime_version_arn: str,
    at: datetime,
) -> Drift | None:
    """Drift when a promoted function is re-pinned by CloudFormation; None: a new pin."""
    if not previously_promoted or not made_by_cloudformation(user_identity):
        return None
    identity = user_identity or {}
    return Drift(
        stack_name=stack_name or (template_pin.stack_name if template_pin else ""),
        property_path=template_pin.property_path if template_pin else "RuntimeManagementConfig",
        runtime_version_arn=runtime_version_arn,
        at=at,
        by=str(identity.get("arn") or identity.get("invokedBy") or CLOUDFORMATION),
    )
