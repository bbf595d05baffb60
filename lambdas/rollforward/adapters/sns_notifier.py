"""`ports.Notifier` on SNS: one topic per channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollforward.adapters.aws_errors import call
from rollforward.audit.notices import Links, Notice, NoticeKind, build_notice
from rollforward.audit.notify import summary_of
from rollforward.clock import utc_now
from rollforward.ledger import Pin
from rollforward.policy import StagePlan


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
                call(self._sns.publish, TopicArn=topic, **notice.sns_publish_kwargs())
        return notice
