from datetime import UTC, datetime, timedelta

from rollforward.fleet import FleetGauges
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def _pin(name: str, days: float, stage: Stage) -> Pin:
    return Pin(
        key=PinKey(f"arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        generation=1,
        stage=stage,
        first_seen=NOW - timedelta(days=days),
        pinned_runtime_version_arn="arn:aws:lambda:us-east-1::runtime:" + "a" * 64,
        pinned_by="arn:aws:iam::123456789012:user/x",
    )


def test_gauges_count_only_open_pins_and_the_oldest_open_one():
    pins = [
        _pin("a", 3, Stage.TRACKING),
        _pin("b", 20, Stage.AWAITING_APPROVAL),
        _pin("c", 400, Stage.RESOLVED),  # closed: neither counted nor the oldest
        _pin("d", 1, Stage.TRACKING),
    ]
    gauges = FleetGauges.of(pins, pending_approvals=1, now=NOW)
    assert gauges.pins_open == 3
    assert gauges.oldest_pin_age_days == 20.0
    assert gauges.by_stage == {"tracking": 2, "awaiting_approval": 1}
    assert gauges.pending_approvals == 1


def test_an_empty_fleet_has_zero_gauges():
    gauges = FleetGauges.of([], pending_approvals=0, now=NOW)
    assert (gauges.pins_open, gauges.oldest_pin_age_days, gauges.by_stage) == (0, 0.0, {})
