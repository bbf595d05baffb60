"""On-call approvals and holds: the rules (`rules`, `principals`: pure) and the service that
applies them on the ports (`service.Approvals`; its AWS store is
`rollforward.adapters.dynamodb_approvals`).

`Approvals` is resolved lazily: the policy imports `principals` from here, and the service
imports the policy.
"""

from __future__ import annotations

from typing import Any

from rollforward.approvals.rules import (
    APPROVAL_ID,
    MAX_REASON,
    RETENTION,
    Decision,
    DecisionResult,
    Refused,
    check_reason,
    is_approval_id,
    new_approval_id,
    reason_problem,
)


def __getattr__(name: str) -> Any:
    if name == "Approvals":
        from rollforward.approvals.service import Approvals

        return Approvals
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APPROVAL_ID",
    "MAX_REASON",
    "RETENTION",
    "Decision",
    "DecisionResult",
    "Refused",
    "check_reason",
    "is_approval_id",
    "new_approval_id",
    "reason_problem",
]
