"""What the console reads (ledger, approvals, audit trail, the policy in force) and the one
thing it does: post a decision to the decision API, signed as the console's identity.

The AWS context (discovery, tables, clients, policy) is the CLI's own, rebuilt every
`CONTEXT_TTL_SECONDS` so a redeploy shows up without a restart while a page view does not cost
a Lambda control-plane call (15 req/s, shared with the user's own deploys).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cached_property
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError
from rollforward.clock import utc_now
from rollforward.model import PinKey

from ..aws import Target
from ..commands.base import Context, GlobalOptions
from ..commands.pins import next_step
from ..render import Output
from .views import FleetView, PendingApproval, PinRow, PinView

# Discovery and the policy in force are re-read this often, so a redeploy shows up without a
# restart while a page view does not cost a Lambda control-plane call (15 req/s, shared).
CONTEXT_TTL_SECONDS = 300.0


class _ConsoleContext(Context):
    """The CLI's lazily built AWS context (discovery, ledger, approvals, audit, decision API,
    policy), on a target the console was given rather than one it resolves."""

    def __init__(self, target: Target) -> None:
        super().__init__(GlobalOptions(), Output("table", sys.stderr, sys.stderr))
        self._given_target = target

    @cached_property
    def target(self) -> Target:
        return self._given_target

    def now(self) -> datetime:
        """The target's clock: the emulator's control route for a served emulator, else
        `rollforward.clock` (the system clock; the virtual one inside an embedded AWS)."""
        return super().now() if self.target.is_emulator else utc_now()


class Backend:
    """Everything the console reads, and the one thing it does (post a decision).

    boto3 sessions and resources are not thread-safe and a console has one user, so AWS work
    is serialized by one lock; the web server's threads only keep slow sockets apart.
    """

    def __init__(
        self,
        target: Target,
        *,
        ttl_seconds: float = CONTEXT_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.lock = threading.Lock()
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._context: _ConsoleContext | None = None
        self._built_at = 0.0
        self._identity: str | None = None

    @property
    def context(self) -> _ConsoleContext:
        """Callers hold `lock`."""
        if self._context is None or self._monotonic() - self._built_at > self._ttl:
            self._context = _ConsoleContext(self.target)
            self._built_at = self._monotonic()
        return self._context

    def identity(self) -> str:
        """Who the console acts as (the approver on record), or "" when STS will not say."""
        with self.lock:
            if self._identity is None:
                try:
                    answer = self.context.target.client("sts").get_caller_identity()
                    self._identity = str(answer.get("Arn", ""))
                except (ClientError, BotoCoreError):
                    self._identity = ""
            return self._identity

    def check_deployed(self) -> None:
        with self.lock:
            _ = self.context.discovery

    def fleet(self, *, include_closed: bool) -> FleetView:
        with self.lock:
            context = self.context
            pins = context.ledger.list_pins(open_only=not include_closed)
            now = context.now()
            approvals = context.approvals.pending()
            policy = context.policy
        pending = _newest_pending_by_pin(approvals)
        pins.sort(key=lambda pin: (pin.first_seen, pin.key.id))
        rows = []
        for pin in pins:
            approval = pending.get(pin.key.id) if pin.is_open else None
            rows.append(PinRow.of(pin, now, next_step(pin, policy, now, approval), approval))
        by_pin = {pin.key.id: pin for pin in pins}
        requests_ = [
            PendingApproval.of(item, by_pin.get(str(item.get("pin_id", ""))), now)
            for item in sorted(pending.values(), key=lambda i: str(i.get("expires_at", "")))
        ]
        return FleetView(now=now, rows=rows, pending=requests_, include_closed=include_closed)

    def pin(self, pin_id: str) -> PinView | None:
        key = PinKey.from_id(pin_id)
        with self.lock:
            context = self.context
            pin = context.ledger.get(key)
            if pin is None:
                return None
            now = context.now()
            approval = None
            if pin.approval_id:
                record = context.approvals.get(pin.approval_id)
                approval = {k: v for k, v in (record or {}).items() if k != "task_token"} or None
            pending = approval if approval and approval.get("status") == "pending" else None
            step = next_step(pin, context.policy, now, pending)
            records = (
                context.audit.read(pin_id=pin.key.id)
                if context.discovery.get("audit_log_group")
                else []
            )
        return PinView.of(pin, now, step, approval, records)

    def approval_subject(self, approval_id: str) -> dict[str, Any] | None:
        """The approval a decision is about (no task token), to restate it before confirming."""
        with self.lock:
            record = self.context.approvals.get(approval_id)
        if not record:
            return None
        return {k: v for k, v in record.items() if k != "task_token"}

    def decide(self, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST one decision, signed as the console's identity: (HTTP status, API answer)."""
        with self.lock:
            client = self.context.decisions
            try:
                return client.post(**fields)
            except requests.Timeout:
                return 504, {
                    "refused": "the decision API did not answer in time; the decision may or "
                    "may not have been recorded: check the function's timeline"
                }
            except requests.ConnectionError:
                return 502, {"refused": f"cannot reach the decision API at {client.url}"}


def _newest_pending_by_pin(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        pin_id = str(item.get("pin_id", ""))
        if pin_id not in latest or str(item.get("requested_at", "")) > str(
            latest[pin_id].get("requested_at", "")
        ):
            latest[pin_id] = item
    return latest
