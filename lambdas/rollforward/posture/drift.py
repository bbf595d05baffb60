"""A re-pin made by CloudFormation after a promotion is drift, not a new incident.

When a function whose pin rollforward resolved (promoted to Auto) is pinned again, and the
CloudTrail record says CloudFormation made the call (`userIdentity.invokedBy`
`cloudformation.amazonaws.com`, or an `AWSCloudFormation` session of a stack's service role),
the stack's template re-applied its `RuntimeManagementConfig`: the fix is in the template,
not another canary. `classify_repin` says so, and `drift_entry` is what goes on the same ledger
item (its `evidence["drift"]` list) with the stack and the property.

Pure. `Tracker.observe` (detection and the scan) calls it when a resolved item is pinned again:
the new episode opens on the same ledger item with `evidence["drift"]` (every re-pin so far,
each with its stack and property) and its ladder says what to change (`drift_sentence`). The
scan has no CloudTrail identity: it calls a re-pin drift when the function's own stack is the
one whose template was noted as pinning before the promotion (`evidence["template_pin"]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollforward.posture.templates import TemplatePin

CLOUDFORMATION = "cloudformation.amazonaws.com"
STACK_NAME_TAG = "aws:cloudformation:stack-name"
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
    """Drift when a promoted function is re-pinned by CloudFormation; None: a new pin.

    `user_identity` None means nobody said who (the scan found the re-pin): it is drift when
    the function's stack (`stack_name`, from its tags) is the stack whose template was seen
    pinning it (`template_pin`)."""
    if not previously_promoted:
        return None
    if user_identity is None:
        if template_pin is None or not stack_name or template_pin.stack_name != stack_name:
            return None
        return Drift(
            stack_name=stack_name,
            property_path=template_pin.property_path,
            runtime_version_arn=runtime_version_arn,
            at=at,
            by=f"CloudFormation stack {stack_name} (inferred by the scan: its template pins)",
        )
    if not made_by_cloudformation(user_identity):
        return None
    identity = user_identity
    return Drift(
        stack_name=stack_name or (template_pin.stack_name if template_pin else ""),
        property_path=template_pin.property_path if template_pin else "RuntimeManagementConfig",
        runtime_version_arn=runtime_version_arn,
        at=at,
        by=str(identity.get("arn") or identity.get("invokedBy") or CLOUDFORMATION),
    )


DRIFT_DETAIL = "drift"  # what `Observation.detail` starts with for a drifted re-pin
DRIFT = "drift"  # evidence key: the re-pins recorded on this ledger item, oldest first
TEMPLATE_PIN = "template_pin"  # evidence key: what the approval request noted
MAX_DRIFT_ENTRIES = 20


def noted_template_pin(evidence: Mapping[str, Any]) -> TemplatePin | None:
    """The template pin the approval request noted on the item (`{stack, property, ...}`)."""
    noted = evidence.get(TEMPLATE_PIN)
    if not isinstance(noted, Mapping):
        return None
    stack, prop = noted.get("stack"), noted.get("property")
    if not isinstance(stack, str) or not isinstance(prop, str) or not stack or not prop:
        return None
    logical = prop.split(".")[1] if prop.startswith("Resources.") and prop.count(".") >= 2 else ""
    return TemplatePin(stack, logical, prop, "Manual")


def drift_evidence(previous: Mapping[str, Any], drift: Drift) -> dict[str, Any]:
    """The new episode's evidence: every re-pin so far (this one last) and the template pin."""
    earlier = previous.get(DRIFT)
    entries = [e for e in earlier if isinstance(e, Mapping)] if isinstance(earlier, list) else []
    evidence: dict[str, Any] = {DRIFT: [*entries, drift.entry()][-MAX_DRIFT_ENTRIES:]}
    if isinstance(previous.get(TEMPLATE_PIN), Mapping):
        evidence[TEMPLATE_PIN] = dict(previous[TEMPLATE_PIN])
    return evidence


def latest_drift(evidence: Mapping[str, Any]) -> Mapping[str, Any] | None:
    entries = evidence.get(DRIFT)
    if isinstance(entries, list) and entries and isinstance(entries[-1], Mapping):
        return entries[-1]
    return None


def drift_sentence(evidence: Mapping[str, Any]) -> str:
    """What the ladder tells the owner of a drifted item, or "" when it did not drift."""
    entry = latest_drift(evidence)
    if entry is None:
        return ""
    return (
        f"Your template re-pins: change property {entry.get('property', '')} in stack "
        f"{entry.get('stack', '')} to UpdateRuntimeOn: Auto (or remove it), or its next deploy "
        "undoes the roll-forward again."
    )
