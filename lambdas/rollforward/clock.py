"""Where rollforward reads the time. Always aware UTC.

Deployed code reads the system clock; the embedded AWS swaps in its controllable clock so a
14-day ladder can be played in seconds with the same handler code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def utc_now() -> datetime:
    return _source()


def set_source(source: Callable[[], datetime]) -> None:
    global _source
    _source = source


def iso(moment: datetime) -> str:
    """`2026-11-26T14:20:53Z`: whole seconds, the form Step Functions Wait states accept."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: rollforward only handles aware UTC times")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {text!r}")
    return moment.astimezone(UTC)
