"""A posture pass in chunks (`posture.passes`) and which assessments become ledger items
(`posture.items`): pure, on hand-made facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rollforward.model import UpdateMode
from rollforward.posture import FunctionFacts, PosturePolicy, assess_fleet
from rollforward.posture.items import function_update_findings
from rollforward.posture.passes import PassCarry

NOW = datetime(2026, 12, 2, tzinfo=UTC)
OLD = "arn:aws:lambda:us-east-1::runtime:" + "a" * 64
NEW = "arn:aws:lambda:us-east-1::runtime:" + "b" * 64
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def _facts(name: str, mode: UpdateMode, runtime: str, days_ago: int, **extra: str) -> FunctionFacts:
    return FunctionFacts(
        function_arn=ARN + name,
        qualifier=extra.pop("qualifier", "$LATEST"),
        package_type="Zip",
        last_modified=NOW - timedelta(days=days_ago),
        runtime="python3.12",
        region="us-east-1",
        update_runtime_on=mode,
        runtime_version_arn=runtime,
    )


def test_a_later_chunk_judges_against_the_newest_an_earlier_chunk_saw() -> None:
    carry = PassCarry()
    first = [_facts("fresh", UpdateMode.AUTO, NEW, 1)]
    carry.add(assess_fleet(first, policy=PosturePolicy(), now=NOW, newest=carry.see(first)), NOW)
    handed = PassCarry.from_dict(carry.to_dict())  # through the function's own event
    assert handed is not None

    second = [_facts("stale", UpdateMode.FUNCTION_UPDATE, OLD, 40)]
    assessments = assess_fleet(second, policy=PosturePolicy(), now=NOW, newest=handed.see(second))
    handed.add(assessments, NOW)

    assert assessments[0].status.value == "unmet"  # alone, the chunk would say "unknown"
    counts = {c.row.value: c for c in handed.row_counts()}
    assert (counts["auto"].functions, counts["function_update"].unmet) == (1, 1)
    assert counts["function_update"].oldest_unmet == timedelta(days=10)


def test_a_carry_that_does_not_parse_starts_the_pass_again() -> None:
    assert PassCarry.from_dict(None) is None
    assert PassCarry.from_dict({"counts": {"no-such-row": {}}}) is None
    assert PassCarry.from_dict({"chunk": "x"}) is None
    assert PassCarry.from_dict({}) == PassCarry()


def test_only_an_unmet_function_update_latest_becomes_a_ledger_item() -> None:
    fleet = [
        _facts("fresh", UpdateMode.AUTO, NEW, 1),
        _facts("stale", UpdateMode.FUNCTION_UPDATE, OLD, 40),
        _facts("stale", UpdateMode.FUNCTION_UPDATE, OLD, 40, qualifier="3"),
        _facts("recent", UpdateMode.FUNCTION_UPDATE, OLD, 10),  # due, not unmet
        _facts("pinned", UpdateMode.MANUAL, OLD, 40),
    ]
    assessments = assess_fleet(fleet, policy=PosturePolicy(), now=NOW)

    [finding] = function_update_findings(assessments)

    assert finding.key.function_arn == ARN + "stale" and finding.key.qualifier == "$LATEST"
    assert (finding.runtime_version_arn, finding.since) == (OLD, NOW - timedelta(days=10))
    assert finding.reason.startswith("Runtime update mode FunctionUpdate: behind the newest")
    assert "approve rollforward's switch to Auto behind a canary" in finding.reason
    assert finding.facts["newest_seen"] == NEW
