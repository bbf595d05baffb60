"""What the console reads (ledger, approvals, audit trail, the policy in force) and the one
thing it does: post a decision to the decision API, signed as the console's identity.

The AWS context (discovery, tables, clients, policy) is the CLI's own, rebuilt every
`CONTEXT_TTL_SECONDS` so a redeploy shows up without a restart while a page view does not cost
a Lambda control-plane call (15 req/s, shared with the user's own deploys).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rollforward.escalation.progress import newest_pending_by_pin, next_step
from rollforward.model import PinKey

from ..aws import Target
from ..commands.base import TargetContext
from ..commands.pins import read_detail
from ..errors import DecisionAnswer, post_decision
from .views import FleetView, PendingApproval, PinRow, PinView

# Discovery and the policy in force are re-read this often, so a redeploy shows up without a
# restart while a page view does not cost a Lambda control-plane call (15 req/s, shared).
CONTEXT_TTL_SECONDS = 300.0


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
        self._context: TargetContext | None = None
        self._built_at = 0.0
        self._identity: str | None = None

    @property
    def context(self) -> TargetContext:
        """Callers hold `lock`."""
        if self._context is None or self._monotonic() - self._built_at > self._ttl:
            self._context = TargetContext(self.target)
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
        pending = newest_pending_by_pin(approvals)
        pins.sort(key=lambda pin: (pin.first_seen, pin.key.id))
        rows = []
        for pin in pins:
            approval = pending.get(pin.key.id) if pin.is_open else None
            expires = approval.get("expires_at") if approval else None
            rows.append(PinRow.of(pin, now, next_step(pin, policy, now, expires), approval))
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
            detail = read_detail(context, pin)
        return PinView.of(detail)

    def approval_subject(self, approval_id: str) -> dict[str, Any] | None:
        """The approval a decision is about (no task token), to restate it before confirming."""
        with self.lock:
            record = self.context.approvals.get(approval_id)
        if not record:
            return None
        return {k: v for k, v in record.items() if k != "task_token"}

    def decide(self, fields: dict[str, str]) -> DecisionAnswer:
        """POST one decision, signed as the console's identity, and read the answer."""
        with self.lock:
            return post_decision(self.context.decisions, **fields)
