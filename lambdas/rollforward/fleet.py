"""Fleet gauges for the dashboard: how many functions are pinned, for how long, where. Pure:
the scan handler emits them (EMF through Powertools)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from rollforward.ledger import Pin


@dataclass(frozen=True)
class FleetGauges:
    pins_open: int
    oldest_pin_age_days: float
    pending_approvals: int
    by_stage: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, pins: list[Pin], pending_approvals: int, now: datetime) -> FleetGauges:
        open_pins = [pin for pin in pins if pin.is_open]
        oldest = max(((now - pin.first_seen).total_seconds() for pin in open_pins), default=0.0)
        return cls(
            pins_open=len(open_pins),
            oldest_pin_age_days=round(max(0.0, oldest) / 86_400, 2),
            pending_approvals=pending_approvals,
            by_stage=dict(Counter(str(pin.stage) for pin in open_pins)),
        )
