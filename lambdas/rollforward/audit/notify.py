"""Notices about a pin: its summary for the notice text, and the `Notifier` port.

On AWS the notifier publishes to the SNS topic of each channel
(`rollforward.adapters.sns_notifier`).
"""

from __future__ import annotations

from rollforward.audit.notices import PinSummary
from rollforward.ledger import FUNCTION_UPDATE_EVIDENCE, Pin, PinKind
from rollforward.ports import Notifier
from rollforward.posture.drift import drift_sentence


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
        left_behind=pin.kind is PinKind.FUNCTION_UPDATE,
        canary_plan=_canary_plan(pin),
    )


def _canary_plan(pin: Pin) -> str | None:
    """The plan stated before approval (`canary.looking.PLANNED`), if the request computed it."""
    planned = pin.evidence.get("canary_plan")
    summary = planned.get("summary") if isinstance(planned, dict) else None
    return str(summary) if summary else None


def _warnings(pin: Pin) -> tuple[str, ...]:
    """What the pin's evidence says must be known before it changes: what a FunctionUpdate
    item is about, a template that re-pins, and a re-pin by that template after a promotion."""
    said = []
    function_update = pin.evidence.get(FUNCTION_UPDATE_EVIDENCE)
    if pin.kind is PinKind.FUNCTION_UPDATE and isinstance(function_update, dict):
        said.append(function_update.get("sentence"))
    template_pin = pin.evidence.get("template_pin")
    said.append(template_pin.get("sentence") if isinstance(template_pin, dict) else None)
    said.append(drift_sentence(pin.evidence))
    return tuple(str(sentence) for sentence in said if sentence)


__all__ = ["Notifier", "summary_of"]
