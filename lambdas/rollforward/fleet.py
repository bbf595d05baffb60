"""Fleet gauges for the dashboard: how many functions are pinned, for how long, where."""

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

    def publish(self, metrics: object) -> None:
        """Emit as EMF through a Powertools `Metrics`: one gauge per metric, stages as a
        `stage` dimension (one single-metric record each, since dimensions are per record)."""
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        metrics.add_metric(name="PinsOpen", unit=MetricUnit.Count, value=self.pins_open)  # type: ignore[attr-defined]
        metrics.add_metric(  # type: ignore[attr-defined]
            name="OldestPinAgeDays", unit=MetricUnit.Count, value=self.oldest_pin_age_days
        )
        metrics.add_metric(  # type: ignore[attr-defined]
            name="PendingApprovals", unit=MetricUnit.Count, value=self.pending_approvals
        )
        for stage, count in sorted(self.by_stage.items()):
            with single_metric(
                name="PinsByStage", unit=MetricUnit.Count, value=count, namespace="rollforward"
            ) as metric:
                metric.add_dimension(name="stage", value=stage)
