"""Publishing notices to the SNS topic of each channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from rollforward.clock import utc_now
from rollforward.ledger import Pin
from rollforward.notices import Links, Notice, NoticeKind, PinSummary, build_notice
from rollforward.policy import StagePlan


class Notifier(Protocol):
    def notify(
        self,
        kind: NoticeKind,
        pin: Pin,
        *,
        plan: StagePlan | None = None,
        next_step: str = "",
        facts: Mapping[str, str] | None = None,
        approval_id: str | None = None,
    ) -> Notice: ...


def summary_of(pin: Pin) -> PinSummary:
    return PinSummary(
        key=pin.key,
        pinned_since=pin.first_seen,
        runtime_version_arn=pin.pinned_runtime_version_arn or None,
        runtime_version=pin.pinned_runtime_version_name or None,
        pinned_by=pin.pinned_by or None,
        pin_reason=pin.reason or None,
        owner=pin.owner or None,
        team=pin.team or None,
        warnings=_warnings(pin),
    )


def _warnings(pin: Pin) -> tuple[str, ...]:
    """What the pin's evidence says must be known before it changes (a template that re-pins)."""
    template_pin = pin.evidence.get("template_pin")
    sentence = template_pin.get("sentence") if isinstance(template_pin, dict) else None
    return (str(sentence),) if sentence else ()


class SnsNotifier:
    """One SNS topic per channel (`owner`, `team`, `oncall`, or the policy's own names)."""

    def __init__(
        self, sns_client: Any, topics: Mapping[str, str], *, console_url: str = ""
    ) -> None:
        self._sns = sns_client
        self._topics = dict(topics)
        self._console_url = console_url

    def notify(
        self,
        kind: NoticeKind,
        pin: Pin,
        *,
        plan: StagePlan | None = None,
        next_step: str = "",
        facts: Mapping[str, str] | None = None,
        approval_id: str | None = None,
    ) -> Notice:
        links = Links(console_url=self._console_url or None, approval_id=approval_id)
        notice = build_notice(kind, summary_of(pin), plan, utc_now(), next_step, links, facts=facts)
        for channel in notice.channels:
            topic = self._topics.get(channel) or self._topics.get("oncall")
            if topic:
                self._sns.publish(TopicArn=topic, **notice.sns_publish_kwargs())
        return notice
