"""EventBridge Scheduler's invocation of a schedule's target, as its execution role.

The emulator keeps no timer for schedules (tests and the demo start the scan directly); `fire`
is what one due schedule does on AWS: Scheduler assumes the target's `RoleArn` (its trust must
name `scheduler.amazonaws.com`; conditions on `aws:SourceAccount` / `aws:SourceArn` see the
schedule's account and its schedule group's ARN) and calls the target as that role, so a role that may not
`states:StartExecution` (or `lambda:InvokeFunction`) the target starts nothing (EventBridge
Scheduler User Guide, "Set up the execution role"). Universal (`aws-sdk`) targets are not
delivered.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
_ACTIONS = {"states": "states:StartExecution", "lambda": "lambda:InvokeFunction"}


def refusal(schedule: Mapping[str, Any], account: str, region: str) -> str:
    """Why Scheduler cannot invoke `schedule`'s target ("" when it can)."""
    from emulator import iam

    target = schedule.get("Target") or {}
    arn, role = str(target.get("Arn") or ""), str(target.get("RoleArn") or "")
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    action = _ACTIONS.get(service)
    if action is None:
        return f"the embedded AWS does not invoke {arn or 'this'} target"
    if not iam.ENFORCEMENT.enabled:
        return ""
    # aws:SourceArn is the schedule's group, not the schedule (the confused-deputy condition
    # the Scheduler guide and CDK's aws-scheduler-targets write).
    group = schedule.get("GroupName") or "default"
    source = {
        "aws:SourceAccount": account,
        "aws:SourceArn": f"arn:aws:scheduler:{region}:{account}:schedule-group/{group}",
    }
    if not role or not iam.service_may_assume(role, SCHEDULER_PRINCIPAL, region, source):
        return f"{SCHEDULER_PRINCIPAL} may not assume {role or '(no role)'} (its trust policy)"
    if not iam.role_allows(role, action, arn, region):
        return f"{role} is not allowed {action} on {arn}"
    return ""


def fire(schedule: Mapping[str, Any], account: str, region: str) -> bool:
    """Invoke `schedule`'s target once, as its role; False (logged) when it is refused."""
    from moto.awslambda.utils import get_backend as lambda_backend
    from moto.stepfunctions.responses import get_backend as stepfunctions_backend

    why = refusal(schedule, account, region)
    if why:
        logger.warning("schedule %s: invoking its target failed: %s", schedule.get("Name"), why)
        return False
    target = schedule["Target"]
    arn, payload = str(target["Arn"]), str(target.get("Input") or "{}")
    _, _, service, target_region, target_account, _ = arn.split(":", 5)
    if service == "states":
        stepfunctions_backend(target_account, target_region).start_execution(
            arn, str(uuid.uuid4()), payload
        )
    else:
        headers = {"X-Amz-Invocation-Type": "Event"}
        lambda_backend(target_account, target_region).invoke(arn, None, payload, headers, {})
    return True
