"""`rollforward console`: the on-call web console, served on this machine only.

What on-call needs on one screen: the fleet of pinned functions by age and stage, the pending
approvals with Approve / Reject, each function's canary (candidate vs baseline error rate and
traffic weight, an SVG drawn here from the ledger's verdicts) and its audit timeline.

It acts as *you*. Every decision (approve, reject, snooze, exempt) is a SigV4-signed POST to the
decision API with the credentials the console was started with, so the approver on record is
your IAM principal and the deployed rules (single-use ids, expiry, allowed approvers,
separation of duties) apply exactly as for the CLI. The console reads the ledger, the approvals
table and the audit trail; it never writes any of them. Everything shown is escaped (Jinja2
with autoescape on, for SVG too): function names, tags and reasons are other people's input.

The parts, each its own module:

- `app`: routes, pages and the two-POST decision flow; `serve` and `make_app`.
- `security`: loopback-only listening and Host checks, CSRF sessions, security headers.
- `backend`: the cached AWS reads and the one write (a decision through the API).
- `views`: view models of the fleet, a pin, a canary; the decision form's validation.
- `chart`: the canary chart's SVG geometry.

`serve` and `make_app` are imported lazily: the view models and the chart need no AWS library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ConsoleApp, make_app, serve

__all__ = ["ConsoleApp", "make_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
