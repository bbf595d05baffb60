"""The escalation ladder: which rung is next, in which round, due when (`next_stage`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rollforward.model import PinKey
from rollforward.policy.durations import _utc
from rollforward.policy.models import Rung

if TYPE_CHECKING:
    from rollforward.policy.models import Policy


def stage_key(name: str, round: int) -> str:
    """The key a sent notice is recorded under: `"team"` in round 0, `"approval#2"` later."""
    if round < 0:
        raise ValueError("round must not be negative")
    return name if round == 0 else f"{name}#{round}"


def parse_stage_key(key: str) -> tuple[str, int]:
    name, sep, round_text = key.partition("#")
    if not sep:
        return name, 0
    if not round_text.isdigit() or int(round_text) < 1:
        raise ValueError(f"not a stage key: {key!r}")
    return name, int(round_text)


@dataclass(frozen=True, slots=True)
class StagePlan:
    """The next notice to send: which rung (and its position), in which round, due when
    (an absolute UTC time)."""

    stage: Rung
    index: int
    round: int
    due: datetime

    @property
    def key(self) -> str:
        """Record the sent notice under this key in `notices_sent`."""
        return stage_key(self.stage.name, self.round)

    def dedup_key(self, pin: PinKey) -> str:
        """`<function-arn>#<qualifier>#<stage>[#round]`: SNS/PagerDuty idempotency key."""
        return f"{pin.id}#{self.key}"

    def is_due(self, now: datetime) -> bool:
        return self.due <= _utc(now, "now")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for Step Functions state (`due` is ISO-8601 with `Z`, for Wait)."""
        return {
            "stage": self.stage.name,
            "index": self.index,
            "round": self.round,
            "key": self.key,
            "due": self.due.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "audience": self.stage.audience.value,
            "channel": self.stage.channel,
            "requests_approval": self.stage.requests_approval,
        }

    @classmethod
    def from_dict(cls, policy: Policy, data: Mapping[str, Any]) -> StagePlan:
        """Rebuild a plan from `to_dict` output; the stage must still exist in `policy`."""
        due = datetime.fromisoformat(str(data["due"]))
        name = str(data["stage"])
        index = policy.escalation.index_of(name)
        if index is None:
            raise KeyError(f"no escalation stage named {name!r}")
        return cls(policy.escalation.stages[index], index, int(data["round"]), _utc(due, "due"))


def next_stage(
    policy: Policy,
    first_seen: datetime,
    notices_sent: Mapping[str, datetime],
    now: datetime,
    snoozed_until: datetime | None = None,
    exempt_until: datetime | None = None,
) -> StagePlan | None:
    """The next rung to notify and when, or None when `escalation.max_rounds` is used up.

    Round 0 climbs every rung. Rung i is due at the latest of:
      * `first_seen + offset_i`;
      * the time rung i-1 was actually sent plus the offset gap between the two rungs, so a
        snooze or an outage delays the rest of the ladder instead of releasing every
        overdue rung at once (the owner always gets the gap to react before it escalates);
      * the snooze end and the exemption end, if any.
    A round ends when its approval rung has been sent. The next round (a rejection, or an
    approval request nobody answered within `approval.approval_timeout`) starts at
    `escalation.restart_from` (default: the approval rung), due no earlier than the previous
    approval request plus `approval_timeout`, and the snooze/exemption ends — so after a
    rejection snoozes the pin, the request comes back when the snooze ends. Later rungs of
    that round keep their offset gaps. Rounds ≥ 1 have their own keys (`approval#1`), hence
    their own SNS/PagerDuty dedup keys; each (rung, round) is returned until it is recorded
    in `notices_sent` and never again after. The ladder only climbs: a rung that precedes an
    already-sent rung in the same round (say, added to the policy later) is skipped. Keys in
    `notices_sent` that name no current rung are ignored.

    `now` bounds recorded send times (a writer's clock running ahead cannot push the ladder
    into the future); the plan is otherwise a pure function of the recorded history. The
    caller sends when `plan.is_due(now)`, else waits until `plan.due`.
    All datetimes must be timezone-aware (naive → ValueError); results are UTC.
    """
    first_seen = _utc(first_seen, "first_seen")
    now = _utc(now, "now")
    floor = max(
        [first_seen]
        + [
            _utc(t, name)
            for t, name in ((snoozed_until, "snoozed_until"), (exempt_until, "exempt_until"))
            if t
        ]
    )
    escalation = policy.escalation
    stages = escalation.stages
    restart = escalation.restart_index

    sent: dict[tuple[int, int], datetime] = {}
    for key, at in notices_sent.items():
        at = min(_utc(at, f"notices_sent[{key!r}]"), now)
        try:
            name, round_ = parse_stage_key(key)
        except ValueError:
            continue
        index = escalation.index_of(name)
        if index is None or (round_ > 0 and index < restart):
            continue
        sent[(round_, index)] = at

    if not sent:
        return StagePlan(stages[0], 0, 0, max(first_seen + stages[0].offset, floor))

    round_ = max(r for r, _ in sent)
    last = max(i for r, i in sent if r == round_)
    last_at = sent[(round_, last)]
    if last + 1 < len(stages):
        following = stages[last + 1]
        due = max(last_at + (following.offset - stages[last].offset), floor)
        if round_ == 0:
            due = max(due, first_seen + following.offset)
        return StagePlan(following, last + 1, round_, due)
    if escalation.max_rounds is not None and round_ + 1 >= escalation.max_rounds:
        return None
    due = max(last_at + policy.approval.approval_timeout, floor)
    return StagePlan(stages[restart], restart, round_ + 1, due)
