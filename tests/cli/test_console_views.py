"""The pending approval as on-call sees it, in the console and in `show`: which round it is
(issue 9: the third request was labelled "round 2"), earlier canary attempts, the target
runtime; and the fleet row's attempt count and last outcome (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rollforward.clock import iso
from rollforward.escalation.progress import Attempt, Attempts, with_attempt
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey
from rollforward_cli.console.views import PendingApproval, PinRow
from rollforward_cli.details import approval_text, pin_fields

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CANDIDATE = "arn:aws:lambda:us-east-1::runtime:" + "ab" * 32


def _pin(stage: Stage, attempts: list[Attempt]) -> Pin:
    evidence: dict[str, object] = {}
    for attempt in attempts:
        evidence = with_attempt(evidence, attempt)
    return Pin(
        key=PinKey(ARN, "$LATEST"),
        generation=1,
        stage=stage,
        first_seen=NOW - timedelta(days=30),
        pinned_runtime_version_arn="arn:aws:lambda:us-east-1::runtime:" + "cd" * 32,
        pinned_by="arn:aws:iam::123456789012:user/alice",
        pinned_runtime_version_name="python:3.12.v41",
        round=2,
        evidence=evidence,
    )


ATTEMPTS = [
    Attempt("rolled_back", NOW - timedelta(days=9), "candidate error rate 5.0%", CANDIDATE),
    Attempt("stopped", NOW - timedelta(days=2), "alias live was moved by someone else"),
]
THIRD_REQUEST = {
    "approval_id": "apr-" + "1" * 32,
    "pin_id": f"{ARN}#$LATEST",
    "round": 2,  # rounds count from 0: this is the third request
    "status": "pending",
    "requested_at": iso(NOW - timedelta(hours=1)),
    "expires_at": iso(NOW + timedelta(days=2)),
}


def test_the_third_request_is_round_3_with_its_earlier_attempts_and_target() -> None:
    pin = _pin(Stage.AWAITING_APPROVAL, ATTEMPTS)
    view = PendingApproval.of(THIRD_REQUEST, pin, NOW)
    assert view.round == "round 3"
    assert view.attempts == "2 (last: stopped)"
    assert view.previous[0].startswith("rolled back 9d ago") and "5.0%" in view.previous[0]
    assert view.previous[1].startswith("stopped 2d ago") and "someone else" in view.previous[1]
    assert view.target_runtime.startswith("the newest python:3.12 version")
    assert "runtime:abababababab" in view.target_runtime  # the last attempt's candidate


def test_show_and_the_console_word_the_approval_and_attempts_alike() -> None:
    pin = _pin(Stage.AWAITING_APPROVAL, ATTEMPTS)
    assert ", round 3," in approval_text(THIRD_REQUEST)
    fields = dict(pin_fields(pin, NOW, None, THIRD_REQUEST, Attempts.of(pin.evidence)))
    assert fields["Episode"] == "generation 1, round 3"
    assert fields["Canary attempts"] == "2 (last: stopped)"
    assert fields["Attempt 1"].startswith("rolled back") and fields["Attempt 2"].startswith(
        "stopped"
    )
    assert fields["Target runtime"].startswith("the newest python:3.12 version")


def test_a_fleet_row_counts_attempts_and_says_how_the_last_ended() -> None:
    row = PinRow.of(_pin(Stage.TRACKING, ATTEMPTS[:1]), NOW, None, None)
    assert (row.attempts, row.last_outcome) == (1, "rolled back")
    running = PinRow.of(_pin(Stage.CANARY, ATTEMPTS), NOW, None, None)
    assert (running.attempts, running.last_outcome) == (2, "running")
    fresh = PinRow.of(_pin(Stage.TRACKING, []), NOW, None, None)
    assert (fresh.attempts, fresh.last_outcome) == (0, "")


def test_the_pending_approval_states_the_canary_plan() -> None:
    pin = _pin(Stage.AWAITING_APPROVAL, [])
    sentence = "~40 invocations/day: an unattended canary would need ~12 days; options: x"
    pin.evidence["canary_plan"] = {"summary": sentence, "alias": "live", "computed_at": "t"}
    view = PendingApproval.of(THIRD_REQUEST, pin, NOW)
    assert view.canary_plan.startswith(sentence + " (alias live)")
    assert (
        PendingApproval.of(THIRD_REQUEST, _pin(Stage.AWAITING_APPROVAL, []), NOW).canary_plan == ""
    )


def test_the_sequential_canarys_looks_are_charted_with_their_rates_and_evidence() -> None:
    """The sequential judge records counts and e-values per look, not rates: the chart and its
    table compute the rate so far, label each look, and time it from its `look N` record."""
    from rollforward.audit.records import AuditRecord
    from rollforward_cli.console.views import CanaryView

    started = NOW - timedelta(minutes=20)
    look = {
        "step": 1,
        "weight": 0.05,
        "outcome": "CONTINUE",
        "candidate_errors": 1,
        "candidate_invocations": 400,
        "baseline_errors": 2,
        "baseline_invocations": 8000,
        "regression_evidence": 0.4,
        "healthy_evidence": 57.0,
    }
    verdicts = [{**look, "look": 1}, {**look, "look": 2, "step": 2, "weight": 0.25}]
    records = [
        AuditRecord(
            event="canary_step",
            at=started + timedelta(minutes=5 * n),
            pin_id=f"{ARN}#$LATEST",
            actor="rollforward",
            details={"step": f"look {n} (step {n})"},
            id=f"id-{n}",
        )
        for n in (1, 2)
    ]
    state = {"strategy": "alias", "started_at": iso(started), "verdicts": verdicts}
    view = CanaryView.of("Canary (running)", state, records)
    first, second = view.steps
    assert (first.label, second.label) == ("look 1 (step 1)", "look 2 (step 2)")
    assert (first.at, second.at) == ("11:45", "11:50")
    assert first.candidate_rate == 1 / 400 and first.baseline_rate == 2 / 8000
    assert (first.regression_evidence, first.healthy_evidence) == (0.4, 57.0)
    assert view.chart is not None  # the rates are drawn
