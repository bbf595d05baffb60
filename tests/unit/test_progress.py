"""Where a pin stands, as every client shows it (`rollforward.escalation.progress`): the next step, the
round, earlier canary attempts and a running canary's progress; and the decision rules the
CLI and the console check before sending anything (`approvals.is_approval_id`,
`approvals.reason_problem`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollforward.approvals import MAX_REASON, is_approval_id, new_approval_id, reason_problem
from rollforward.audit.records import AuditEvent, AuditRecord
from rollforward.clock import iso
from rollforward.escalation.progress import (
    MAX_ATTEMPTS_KEPT,
    RUNNING_CANARY,
    Attempt,
    Attempts,
    NextStep,
    newest_pending_by_pin,
    next_step,
    round_label,
    running_canary,
    with_attempt,
)
from rollforward.ledger import Hold, Pin, Stage
from rollforward.model import PinKey
from rollforward.policy import Policy

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"
FIRST_SEEN = datetime(2026, 11, 1, tzinfo=UTC)


def _pin(stage: Stage = Stage.TRACKING, **fields: object) -> Pin:
    pin = Pin(
        key=PinKey(ARN, "$LATEST"),
        generation=1,
        stage=stage,
        first_seen=FIRST_SEEN,
        pinned_runtime_version_arn="",
        pinned_by="",
    )
    for name, value in fields.items():
        setattr(pin, name, value)
    return pin


# ------------------------------------------------------------------------ next step


def test_next_step_is_the_next_rung_of_the_policy_ladder() -> None:
    pin = _pin(notices={"detected": iso(FIRST_SEEN)})
    step = next_step(pin, Policy.default(), FIRST_SEEN + timedelta(days=1))
    assert step == NextStep("reminder -> owner", FIRST_SEEN + timedelta(days=3))


def test_next_step_of_a_snoozed_pin_waits_for_the_snooze() -> None:
    until = FIRST_SEEN + timedelta(days=10)
    pin = _pin(
        Stage.SNOOZED,
        notices={"detected": iso(FIRST_SEEN)},
        snooze=Hold(until, "release freeze", "arn:aws:iam::123456789012:user/bob"),
    )
    step = next_step(pin, Policy.default(), FIRST_SEEN + timedelta(days=1))
    assert step is not None and step.due == until


def test_next_step_while_awaiting_a_decision_is_the_request_expiry() -> None:
    expires = FIRST_SEEN + timedelta(days=15)
    step = next_step(_pin(Stage.AWAITING_APPROVAL), Policy.default(), FIRST_SEEN, iso(expires))
    assert step == NextStep("decision (request expires)", expires)


def test_a_closed_pin_has_no_next_step() -> None:
    assert next_step(_pin(Stage.RESOLVED), Policy.default(), FIRST_SEEN) is None


def test_a_damaged_notice_time_counts_as_not_sent() -> None:
    pin = _pin(notices={"detected": "not a time"})
    step = next_step(pin, Policy.default(), FIRST_SEEN)
    assert step is not None and step.label.startswith("detected")


# ------------------------------------------------------------------------ rounds


@pytest.mark.parametrize(("stored", "shown"), [(0, "round 1"), (1, "round 2"), (2, "round 3")])
def test_rounds_are_shown_counting_from_one(stored: int, shown: str) -> None:
    # Issue 9: the third request (stored round 2, key `approval#2`) was shown as "round 2".
    assert round_label(stored) == shown
    assert round_label(str(stored)) == shown


@pytest.mark.parametrize("stored", [None, "", "x", -1, True])
def test_a_round_that_is_not_a_count_is_not_shown(stored: object) -> None:
    assert round_label(stored) == ""


def test_the_newest_pending_approval_of_each_pin_counts() -> None:
    items = [
        {"pin_id": "a", "approval_id": "old", "requested_at": "2026-11-01T00:00:00Z"},
        {"pin_id": "a", "approval_id": "new", "requested_at": "2026-11-02T00:00:00Z"},
        {"pin_id": "b", "approval_id": "only", "requested_at": "2026-11-01T00:00:00Z"},
    ]
    newest = newest_pending_by_pin(items)
    assert {pin: item["approval_id"] for pin, item in newest.items()} == {"a": "new", "b": "only"}


# ------------------------------------------------------------------------ attempts


def test_attempts_are_kept_newest_last_and_counted_beyond_what_is_kept() -> None:
    evidence: dict[str, object] = {"approval": {"approver": "x"}}
    for n in range(MAX_ATTEMPTS_KEPT + 3):
        attempt = Attempt("rolled_back", FIRST_SEEN + timedelta(days=n), f"reason {n}")
        evidence = with_attempt(evidence, attempt)
    attempts = Attempts.of(evidence)
    assert attempts.count == MAX_ATTEMPTS_KEPT + 3
    assert len(attempts.items) == MAX_ATTEMPTS_KEPT
    assert attempts.last is not None and attempts.last.reason == f"reason {MAX_ATTEMPTS_KEPT + 2}"
    assert evidence["approval"] == {"approver": "x"}  # the rest of the evidence is kept


def test_an_item_written_before_attempts_were_kept_shows_its_last_canaries() -> None:
    evidence = {
        "last_canary": {"rolled_back_because": "candidate error rate 5%", "verdicts": []},
        "stopped": {"at": "2026-11-20T10:00:00Z", "reason": "alias moved"},
    }
    attempts = Attempts.of(evidence)
    assert attempts.count == 2
    assert {a.outcome for a in attempts.items} == {"rolled_back", "stopped"}
    assert Attempts.of({}).count == 0 and Attempts.of({}).last is None


def test_damaged_attempt_records_are_ignored() -> None:
    attempts = Attempts.of({"attempts": ["junk", {"outcome": "promoted", "at": "?"}]})
    assert attempts.count == 1 and attempts.items[0].at is None


# ------------------------------------------------------------------------ a running canary

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _record(at: datetime, event: str, **details: object) -> AuditRecord:
    return AuditRecord(event, at, f"{ARN}#$LATEST", "rollforward", dict(details), str(at))


def _verdict(outcome: str, errors: int, invocations: int) -> dict[str, object]:
    return {
        "outcome": outcome,
        "reasons": [],
        "evidence": {"candidate_errors": errors, "candidate_invocations": invocations},
    }


def test_a_running_canary_shows_its_step_weight_time_evidence_and_expected_end() -> None:
    policy = Policy.default()  # steps 5% → 25% → 50%, bake 10m, post-promotion bake 15m
    bake = policy.canary.bake
    in_flight = {"strategy": "alias", "candidate_version": "7", "baseline_version": "6"}
    pin = _pin(Stage.CANARY, evidence={RUNNING_CANARY: in_flight})
    records = [
        _record(T0 - timedelta(days=3), AuditEvent.CANARY_STEP, step="judge 1", verdict={}),
        _record(T0 - timedelta(minutes=1), AuditEvent.APPROVED),
        _record(
            T0, AuditEvent.CANARY_STEP, step="shift 1/3", weight=0.05, bake_until=iso(T0 + bake)
        ),
        _record(
            T0 + bake, AuditEvent.CANARY_STEP, step="judge 1", verdict=_verdict("PASS", 0, 900)
        ),
        _record(
            T0 + bake,
            AuditEvent.CANARY_STEP,
            step="shift 2/3",
            weight=0.25,
            bake_until=iso(T0 + 2 * bake),
        ),
    ]
    progress = running_canary(pin, policy, records, T0 + bake + timedelta(minutes=3))
    assert progress is not None
    assert (progress.step, progress.steps, progress.weight) == (2, 3, 0.25)
    assert progress.phase == "step 2 of 3"
    assert progress.time_in_step == timedelta(minutes=3)
    assert progress.step_ends_at == T0 + 2 * bake
    # The rest of this step, one more step, the post-promotion bake.
    assert progress.expected_end == T0 + 3 * bake + policy.canary.post_promotion_bake
    # Evidence so far: this canary's one verdict (not the earlier canary's).
    assert [(v["step"], v["weight"], v["candidate_invocations"]) for v in progress.verdicts] == [
        (1, 0.05, 900)
    ]
    assert progress.to_dict()["time_in_step_seconds"] == 180


def test_an_inconclusive_judgement_extends_the_step() -> None:
    policy = Policy.default()
    bake = policy.canary.bake
    pin = _pin(Stage.CANARY, evidence={RUNNING_CANARY: {"strategy": "alias"}})
    records = [
        _record(
            T0, AuditEvent.CANARY_STEP, step="shift 1/3", weight=0.05, bake_until=iso(T0 + bake)
        ),
        _record(
            T0 + bake,
            AuditEvent.CANARY_STEP,
            step="judge 1",
            verdict=_verdict("INCONCLUSIVE", 0, 40),
        ),
    ]
    progress = running_canary(pin, policy, records, T0 + bake)
    assert progress is not None and progress.step_ends_at == T0 + 2 * bake


def test_no_canary_runs_outside_the_canary_stage() -> None:
    pin = _pin(Stage.TRACKING, evidence={RUNNING_CANARY: {"strategy": "alias"}})
    assert running_canary(pin, Policy.default(), [], T0) is None


def test_a_canary_preparing_its_candidate_has_no_step_yet() -> None:
    pin = _pin(Stage.CANARY, evidence={RUNNING_CANARY: {"strategy": "alias", "step_index": -1}})
    progress = running_canary(pin, Policy.default(), [], T0)
    assert progress is not None and progress.step == 0 and progress.expected_end is None
    assert progress.phase == "preparing the candidate"


# ------------------------------------------------------------------------ decision inputs


def test_approval_ids_have_exactly_the_shape_handed_out() -> None:
    assert is_approval_id(new_approval_id())
    for text in (
        "apr-",
        "apr-" + "0" * 31,
        "apr-" + "0" * 33,
        " apr-" + "0" * 32,
        "APR-" + "0" * 32,
    ):
        assert not is_approval_id(text)
    assert not is_approval_id(None) and not is_approval_id(["apr-" + "0" * 32])


@given(st.text(max_size=40))
def test_no_other_text_is_an_approval_id(text: str) -> None:
    assert is_approval_id(text) == (
        len(text) == 36
        and text.startswith("apr-")
        and all(c in "0123456789abcdef" for c in text[4:])
    )


@pytest.mark.parametrize(
    ("reason", "problem"),
    [
        ("fixed in 1.2.3", None),
        ("  padded  ", None),
        ("", "a reason is required"),
        ("   ", "a reason is required"),
        ("x" * MAX_REASON, None),
        (
            "x" * (MAX_REASON + 1),
            f"the reason is {MAX_REASON + 1} characters; at most {MAX_REASON}",
        ),
        (None, f"the reason must be a string (1-{MAX_REASON} characters)"),
        (0, f"the reason must be a string (1-{MAX_REASON} characters)"),
        ({}, f"the reason must be a string (1-{MAX_REASON} characters)"),
    ],
)
def test_a_reason_is_a_string_of_one_to_max_reason_characters(
    reason: object, problem: str | None
) -> None:
    assert reason_problem(reason) == problem
