"""What every canary step works with: the ports, the policy, and the side effects they share.

The steps (preflight, candidate, shifting, evidence, synthetic, promote, rollback) are plain
functions of a `CanaryContext`; `Canary` (the package's facade) builds one and calls them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollforward.audit.notices import NoticeKind
from rollforward.audit.records import AuditEvent
from rollforward.canary.alarms import MAX_WATCHED_ALARMS, watched_alarms
from rollforward.canary.state import IN_FLIGHT, CanaryState, Stop
from rollforward.clock import utc_now
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey, RuntimeSetting
from rollforward.policy import Policy
from rollforward.ports import (
    AuditSink,
    CanaryLocks,
    LambdaControl,
    Ledger,
    NotFound,
    Notifier,
    Signals,
)


@dataclass(frozen=True)
class CanaryContext:
    """The canary's ports and policy. Acts on one function by its ARN (as AWS requires for
    ListTags, and as a cross-account version will need); metrics and log groups are keyed by
    name, as AWS keys them."""

    ledger: Ledger
    lam: LambdaControl
    signals: Signals
    notifier: Notifier
    audit: AuditSink
    policy: Policy
    locks: CanaryLocks | None = None  # one canary per function (None: not enforced)

    def release(self, pin: Pin) -> None:
        """The canary of `pin` is over (resolved, rolled back, stopped): the function is free
        for its other pins' canaries. Only ever this pin's own hold."""
        if self.locks is not None:
            self.locks.release(pin.key.function_arn, pin.key.id)

    def setting(self, pin: Pin, qualifier: str) -> RuntimeSetting:
        """The live runtime setting of one version of the pin's function (`NotFound` if gone)."""
        live = self.lam.runtime_setting(PinKey(pin.key.function_arn, qualifier))
        if live is None:
            raise NotFound(f"{pin.key.function_arn}:{qualifier} no longer exists")
        return live

    def remember(self, pin: Pin, state: CanaryState) -> None:
        """Write the canary's state to the ledger before a change (see `IN_FLIGHT`)."""
        self.ledger.update(
            pin,
            utc_now(),
            stage=Stage.CANARY,
            evidence={**pin.evidence, IN_FLIGHT: state.to_dict()},
        )

    def notify(self, kind: NoticeKind, pin: Pin, **kwargs: Any) -> None:
        """Notices are best-effort here: a failed e-mail must not roll back a healthy canary
        nor stop a rollback. The failure is audited instead."""
        try:
            self.notifier.notify(kind, pin, **kwargs)
        except Exception as error:
            self.audit.record(
                AuditEvent.FAILED, pin_id=pin.key.id, notice=str(kind), error=str(error)[:500]
            )

    def alarm_names(self, tags: dict[str, str]) -> list[str]:
        """The watched alarms: the one place the alarm tags are parsed (see `watched_alarms`)."""
        return watched_alarms(tags, self.policy.tags.alarms)

    def alarms_in_alarm(self, names: list[str], *, must_exist: bool = False) -> list[str]:
        """The watched alarms in ALARM; with `must_exist`, a missing one stops the canary."""
        states = self.signals.alarm_states(names[:MAX_WATCHED_ALARMS]) if names else {}
        if must_exist and (missing := [n for n in names if n not in states]):
            raise Stop(
                f"watched alarm(s) {', '.join(missing)} do not exist (tag "
                f"{self.policy.tags.alarms}): fix the tag before rolling forward"
            )
        return [name for name in names if states.get(name) == "ALARM"]

    def refuse_opted_out(self, tags: dict[str, str]) -> None:
        """Stop (before any change; mid-canary, the rollback restores everything) when the
        function carries the opt-out tag."""
        reason = self.policy.tags.opt_out_reason(tags)
        if reason is not None:
            raise Stop(
                f"the function now carries the opt-out tag {self.policy.tags.opt_out} ({reason})"
            )

    def firing_alarms(self, pin: Pin) -> list[str]:
        """At every look: the tags re-read (an opt-out stops the canary), then the alarms."""
        tags = self.lam.tags(pin.key.function_arn)
        self.refuse_opted_out(tags)
        return self.alarms_in_alarm(self.alarm_names(tags))
