"""Notices about a pin: its summary for the notice text, and the `Notifier` port.

On AWS the notifier publishes to the SNS topic of each channel
(`rollforward.adapters.sns_notifier`).
"""

from __future__ import annotations

from rollforward.audit.notices import PinSummary
from rollforward.ledger import Pin
from rollforward.ports import Notifier


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


__all__ = ["Notifier", "summary_of"]
