"""The console's posture page: the shared-responsibility table over the account and region.

The same report as `rollforward report` (`commands.report.build_report`), read with the
console's credentials and shown per row, unmet first. Read-only: the page changes nothing, and
it has no form (image functions are the owner's to rebuild; FunctionUpdate and Manual ones go
through the ledger and the approvals the fleet page shows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollforward.posture import PosturePolicy
from werkzeug.wrappers import Request, Response

from ..commands.report import build_report

if TYPE_CHECKING:
    from .app import ConsoleApp

# Unmet first, then due, unknown, met: what an auditor reads top down.
STATUS_ORDER = {"unmet": 0, "due": 1, "unknown": 2, "met": 3}


def posture_document(app: ConsoleApp, policy: PosturePolicy | None = None) -> dict[str, Any]:
    with app.backend.lock:
        document, _ = build_report(
            app.backend.context, policy or PosturePolicy.of(app.backend.context.policy.posture)
        )
    document["functions"] = sorted(
        document["functions"],
        key=lambda f: (STATUS_ORDER.get(f["status"], 9), -(f["unmet_days"] or 0), f["function"]),
    )
    return document


def posture_page(app: ConsoleApp, request: Request, token: str) -> Response:
    document = posture_document(app)
    return app.page("posture.html", token, report=document, identity=app.backend.identity())
