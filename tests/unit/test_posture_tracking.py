"""The table's rows in the ledger, on in-memory fakes: the `posture` policy section, the ledger
item's kind and its ladder, and drift — a promoted function re-pinned by its CloudFormation
template opens the next episode of the same item, with the stack and property, and its ladder
says what to change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from rollforward import clock
from rollforward.audit.notices import NoticeKind
from rollforward.audit.records import AuditEvent
from rollforward.canary.service import Canary
from rollforward.canary.state import CanaryState
from rollforward.detection.observation import Action, decide
from rollforward.escalation.tracking import Tracker, WorkflowState
from rollforward.ledger import Pin, PinKind, Stage
from rollforward.model import PinKey, RuntimeSetting, UpdateMode
from rollforward.policy import Policy, PolicyError, is_principal
from rollforward.posture import PosturePolicy

from tests.unit import test_canary as canary_tests
from tests.unit.canary_fakes import (
    NEW_RUNTIME,
    OLD_RUNTIME,
    FakeLambda,
    FakeLocks,
    FakeSignals,
    RuntimeConfig,
    approved_pin,
)
from tests.unit.canary_fakes import FakeAudit as CanaryAudit
from tests.unit.canary_fakes import FakeNotifier as CanaryNotifier
from tests.unit.fakes import (
    FUNCTION_ARN,
    NEWER_RUNTIME_ARN,
    RUNTIME_ARN,
    FakeAudit,
    FakeExecutions,
    FakeLambdaControl,
    FakeLedger,
    FakeNotifier,
    ManualClock,
)

KEY = PinKey(FUNCTION_ARN)
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STACK = "billing-stack"
PROPERTY = "Resources.Billing.Properties.RuntimeManagementConfig"
CFN_ROLE_SESSION = "arn:aws:sts::111122223333:assumed-role/billing-deployer/AWSCloudFormation"
CLOUDFORMATION = {
    "type": "AssumedRole",
    "arn": CFN_ROLE_SESSION,
    "invokedBy": "cloudformation.amazonaws.com",
}
HUMAN = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"}


# ------------------------------------------------------------------ the policy


def test_posture_thresholds_are_in_the_policy_with_documented_defaults() -> None:
    posture = Policy.default().posture
    assert (posture.function_update_max_age, posture.image_max_age) == (
        timedelta(days=30),
        timedelta(days=90),
    )
    custom = Policy.from_json({"posture": {"function_update_max_age": "45d"}})
    assert PosturePolicy.of(custom.posture).function_update_max_age == timedelta(days=45)
    assert '"function_update_max_age": "30d"' in Policy.default().to_json()


def test_bad_posture_settings_are_named_by_their_path() -> None:
    with pytest.raises(PolicyError) as raised:
        Policy.from_json(
            {
                "posture": {
                    "image_max_age": "0s",
                    "function_update_escalation": {
                        "stages": [
                            {"name": "a", "offset": "2d", "audience": "owner"},
                            {"name": "b", "offset": "1d", "audience": "team"},
                        ]
                    },
                }
            }
        )
    text = str(raised.value)
    assert "posture.image_max_age: must be longer than zero" in text
    assert "posture.function_update_escalation.stages[1].offset" in text


def test_a_function_update_item_climbs_its_own_ladder_owner_then_team_then_approval() -> None:
    policy = Policy.default()
    ladder = policy.for_kind(PinKind.FUNCTION_UPDATE).escalation.stages
    assert [(s.name, s.audience.value, s.offset.days) for s in ladder] == [
        ("detected", "owner", 0),
        ("team", "team", 7),
        ("approval", "oncall", 14),
    ]
    assert policy.for_kind(PinKind.MANUAL) is policy
    assert policy.for_kind(PinKind.FUNCTION_UPDATE).canary == policy.canary


def test_ledger_items_written_before_kinds_existed_read_as_manual_pins() -> None:
    pin = Pin(KEY, 1, Stage.TRACKING, START, RUNTIME_ARN, "alice", kind=PinKind.FUNCTION_UPDATE)
    item = pin.to_item()
    assert Pin.from_item(item).kind is PinKind.FUNCTION_UPDATE
    del item["kind"]
    assert Pin.from_item(item).kind is PinKind.MANUAL


def test_nobody_pinned_a_function_update_item_so_an_unknown_pinner_is_no_refusal() -> None:
    approval = Policy.default().approval
    approver = "arn:aws:iam::111122223333:user/bob"
    assert "unknown" in (approval.approver_refusal(approver, ()) or "")
    assert approval.approver_refusal(approver, (), pinned=False) is None


# ------------------------------------------------------------------ drift


@dataclass
class World:
    tracker: Tracker
    ledger: FakeLedger
    lam: FakeLambdaControl
    audit: FakeAudit
    notifier: FakeNotifier

    def promoted(self, *, template_pin: bool = True) -> None:
        """The item as a promotion leaves it: resolved; the approval request noted the template."""
        evidence = (
            {"template_pin": {"stack": STACK, "property": PROPERTY, "sentence": "pins"}}
            if template_pin
            else {}
        )
        self.ledger.put(
            Pin(
                KEY,
                1,
                Stage.RESOLVED,
                START,
                RUNTIME_ARN,
                CFN_ROLE_SESSION,
                evidence=evidence,
                outcome={"result": "resolved"},
            )
        )
        self.lam.pin(KEY)  # the stack's next deploy re-applied its RuntimeManagementConfig

    def pin(self) -> Pin:
        pin = self.ledger.get(KEY)
        assert pin is not None
        return pin


@pytest.fixture
def world() -> Iterator[World]:
    ledger, lam = FakeLedger(), FakeLambdaControl()
    audit, notifier = FakeAudit(), FakeNotifier()
    lam.function_tags[FUNCTION_ARN] = {
        "owner": "billing@example.com",
        "aws:cloudformation:stack-name": STACK,
        "aws:cloudformation:logical-id": "Billing",
    }
    clock.set_source(ManualClock(START + timedelta(days=20)))
    tracker = Tracker(
        ledger=ledger,
        lambda_control=lam,
        executions=FakeExecutions(),
        notifier=notifier,
        audit=audit,
        policy=Policy.default(),
    )
    try:
        yield World(tracker, ledger, lam, audit, notifier)
    finally:
        clock.set_source(lambda: datetime.now(UTC))


def test_a_re_pin_by_cloudformation_after_promotion_is_drift_on_the_same_item(
    world: World,
) -> None:
    world.promoted()

    observation = world.tracker.observe(
        KEY, actor=CFN_ROLE_SESSION, source="cloudtrail:e1", user_identity=CLOUDFORMATION
    )

    assert (observation.action, observation.detail) == ("opened", f"drift: {STACK} {PROPERTY}")
    pin = world.pin()
    assert (pin.key.id, pin.generation, pin.stage) == (KEY.id, 2, Stage.TRACKING)
    [entry] = pin.evidence["drift"]
    assert (entry["stack"], entry["property"], entry["by"]) == (STACK, PROPERTY, CFN_ROLE_SESSION)
    assert pin.evidence["template_pin"]["stack"] == STACK  # the approval request warns again
    assert STACK in pin.reason
    [detected] = [r for r in world.audit.records if r.event == AuditEvent.DETECTED]
    assert detected.details["drift"]["property"] == PROPERTY
    sentence = world.tracker.describe_next(pin, clock.utc_now())
    assert sentence.startswith(
        f"Your template re-pins: change property {PROPERTY} in stack {STACK}"
    )


def test_a_second_re_pin_adds_to_the_drift_history(world: World) -> None:
    world.promoted()
    world.tracker.observe(KEY, actor="cfn", source="t", user_identity=CLOUDFORMATION)
    world.ledger.update(world.pin(), START, stage=Stage.RESOLVED)

    world.tracker.observe(KEY, actor="cfn", source="t", user_identity=CLOUDFORMATION)

    assert [p["stack"] for p in world.pin().evidence["drift"]] == [STACK, STACK]
    assert world.pin().generation == 3


def test_a_human_re_pin_after_promotion_is_a_new_pin(world: World) -> None:
    world.promoted()

    observation = world.tracker.observe(
        KEY, actor=HUMAN["arn"], source="cloudtrail:e2", user_identity=HUMAN
    )

    assert (observation.action, observation.detail) == ("opened", "")
    assert "drift" not in world.pin().evidence
    assert not world.tracker.describe_next(world.pin(), clock.utc_now()).startswith("Your")


def test_the_scan_calls_it_drift_when_the_functions_own_stack_pins_it(world: World) -> None:
    world.promoted()

    observation = world.tracker.observe(KEY, actor="rollforward (scan)", source="scan")

    assert observation.detail.startswith("drift")
    assert "inferred by the scan" in world.pin().evidence["drift"][0]["by"]


def test_the_scan_without_a_noted_template_opens_a_new_pin(world: World) -> None:
    world.promoted(template_pin=False)

    observation = world.tracker.observe(KEY, actor="rollforward (scan)", source="scan")

    assert (observation.action, observation.detail) == ("opened", "")


def test_cloudformation_creating_a_pinned_function_is_a_pin_not_drift(world: World) -> None:
    world.lam.pin(KEY)  # never promoted: the stack created it pinned

    observation = world.tracker.observe(
        KEY, actor=CFN_ROLE_SESSION, source="cloudtrail:e3", user_identity=CLOUDFORMATION
    )

    assert (observation.action, observation.detail) == ("opened", "")


# ------------------------------------------------------------------ FunctionUpdate items


def test_a_function_update_item_ends_when_updated_switched_pinned_or_deleted() -> None:
    item = Pin(KEY, 1, Stage.TRACKING, START, RUNTIME_ARN, "", kind=PinKind.FUNCTION_UPDATE)
    function_update = RuntimeSetting(KEY, UpdateMode.FUNCTION_UPDATE, None)
    assert decide(KEY, item, function_update, in_use=RUNTIME_ARN).action is Action.ALREADY_OPEN
    assert decide(KEY, item, function_update).action is Action.ALREADY_OPEN  # (dry run: unread)
    updated = decide(KEY, item, function_update, in_use=NEWER_RUNTIME_ARN)
    assert (updated.close_as, updated.detail) == (
        Stage.LIFTED,
        f"updated: it now runs {NEWER_RUNTIME_ARN}",
    )
    auto = decide(KEY, item, RuntimeSetting(KEY, UpdateMode.AUTO, None))
    assert (auto.close_as, auto.detail) == (Stage.LIFTED, "switched to Auto")
    pinned = decide(KEY, item, RuntimeSetting(KEY, UpdateMode.MANUAL, RUNTIME_ARN))
    assert pinned.close_as is Stage.LIFTED and "tracked as a pin" in pinned.detail
    assert decide(KEY, item, None).close_as is Stage.DELETED
    in_canary = replace(item, stage=Stage.CANARY)
    assert decide(KEY, in_canary, function_update, in_use=NEWER_RUNTIME_ARN).action is (
        Action.ALREADY_OPEN
    )


def test_the_posture_report_opens_a_function_update_item_on_its_own_ladder(world: World) -> None:
    world.lam.set_mode(KEY, UpdateMode.FUNCTION_UPDATE)
    world.lam.in_use[KEY] = RUNTIME_ARN
    since = START - timedelta(days=1)

    opened = world.tracker.track_function_update(
        KEY,
        runtime_version_arn=RUNTIME_ARN,
        since=since,
        reason="FunctionUpdate: not updated for 31 days",
        facts={"newest_seen": NEWER_RUNTIME_ARN},
    )
    again = world.tracker.track_function_update(
        KEY, runtime_version_arn=RUNTIME_ARN, since=since, reason="r", facts={}
    )

    assert (opened.action, again.action) == ("opened", "already_open")
    pin = world.pin()
    assert (pin.kind, pin.first_seen) == (PinKind.FUNCTION_UPDATE, since)
    assert pin.pinned_by.startswith("nobody") and not is_principal(pin.pinned_by)
    assert pin.evidence["function_update"]["newest_seen"] == NEWER_RUNTIME_ARN
    state = world.tracker.start(WorkflowState(pin.key.id, pin.generation))
    assert state.next is not None and (state.next.stage, state.next.audience) == (
        "detected",
        "owner",
    )
    world.tracker.notice(state)  # the first rung: the owner hears what it is about
    [(kind, _, notice)] = world.notifier.sent
    assert kind is NoticeKind.DETECTED
    assert "FunctionUpdate: not updated for 31 days" in notice.text
    following = world.tracker.plan(world.pin(), clock.utc_now())
    assert following.next is not None and (following.next.stage, following.next.audience) == (
        "team",
        "team",
    )
    # The live check at a rung: still behind, the item stays; updated meanwhile, it ends met.
    world.lam.in_use[KEY] = NEWER_RUNTIME_ARN
    assert world.tracker.observe(KEY, actor="ladder", source="ladder").action == "closed"
    assert world.pin().stage is Stage.LIFTED
    assert [k for k, _, _ in world.notifier.sent] == [NoticeKind.DETECTED]  # no "pin lifted"


def test_a_human_pin_ends_the_function_update_item_and_is_tracked_as_a_pin(world: World) -> None:
    world.ledger.put(
        Pin(KEY, 1, Stage.TRACKING, START, RUNTIME_ARN, "", kind=PinKind.FUNCTION_UPDATE)
    )
    world.lam.pin(KEY)

    observation = world.tracker.observe(KEY, actor=HUMAN["arn"], source="cloudtrail:e4")

    assert observation.action == "opened"
    pin = world.pin()
    assert (pin.kind, pin.generation, pin.pinned_by) == (PinKind.MANUAL, 2, HUMAN["arn"])


def test_an_opted_out_function_gets_no_function_update_item(world: World) -> None:
    world.lam.function_tags[FUNCTION_ARN]["rollforward:opt-out"] = "frozen"
    observation = world.tracker.track_function_update(
        KEY, runtime_version_arn=RUNTIME_ARN, since=START, reason="r", facts={}
    )
    assert observation.action == "opted_out" and world.ledger.get(KEY) is None


# ------------------------------------------------------------------ the switch to Auto


@pytest.fixture
def canary_clock() -> Iterator[canary_tests.Clock]:
    source = canary_tests.Clock()
    clock.set_source(source)
    yield source
    clock.set_source(lambda: datetime.now(UTC))


@pytest.fixture
def switch(canary_clock: canary_tests.Clock) -> canary_tests.World:
    """An approved FunctionUpdate item: `$LATEST` FunctionUpdate on the old runtime, the alias
    on a version published from it."""
    lam = FakeLambda()
    lam.latest.setting = RuntimeConfig(UpdateMode.FUNCTION_UPDATE)
    baseline = lam.publish()
    lam.set_alias("live", baseline)
    signals = FakeSignals(lam, per_minute=canary_tests.PER_MINUTE)  # the canary tests' traffic
    ledger, audit, notifier = FakeLedger(), CanaryAudit(), CanaryNotifier()
    locks = FakeLocks()
    canary = Canary(
        ledger=ledger,
        lam=lam,
        signals=signals,
        notifier=notifier,
        audit=audit,
        policy=canary_tests.POLICY,
        locks=locks,
    )
    pin = ledger.put(replace(approved_pin(), kind=PinKind.FUNCTION_UPDATE, pinned_by=""))
    return canary_tests.World(
        lam, signals, ledger, audit, notifier, canary_clock, pin, canary, baseline, locks
    )


def test_approved_it_is_switched_to_auto_behind_the_canary(switch: canary_tests.World) -> None:
    assert canary_tests.Machine(switch).run() == "closed"

    assert switch.path.count("Bake") == len(canary_tests.STEPS)  # the same canary
    version, weights, mode, _ = switch.lam.state()
    assert (mode, weights, switch.lam.latest.runtime_arn) == (UpdateMode.AUTO, {}, NEW_RUNTIME)
    assert switch.lam.versions[version].setting.mode is UpdateMode.AUTO
    assert switch.pin.stage is Stage.RESOLVED


def test_a_regression_restores_function_update_exactly(switch: canary_tests.World) -> None:
    switch.signals.error_rates[NEW_RUNTIME] = 0.5

    assert canary_tests.Machine(switch).run() == "rolled_back"

    version, weights, mode, pinned = switch.lam.state()
    assert (version, weights, mode, pinned) == (
        switch.baseline,
        {},
        UpdateMode.FUNCTION_UPDATE,
        None,
    )
    assert switch.lam.latest.runtime_arn == OLD_RUNTIME  # the runtime it ran, until its next update
    baseline = switch.lam.versions[switch.baseline].setting
    assert baseline.mode is UpdateMode.FUNCTION_UPDATE  # the canary's explicit pin undone
    assert (
        "$LATEST FunctionUpdate on the original runtime version"
        in (switch.pin.evidence["last_canary"]["restored"])
    )
    calls = len(switch.lam.calls)
    state = CanaryState.from_dict(switch.pin.evidence["last_canary"])
    switch.canary.rollback(switch.pin, state, "again")  # idempotent: nothing moves
    assert "PutRuntimeManagementConfig" not in switch.lam.calls[calls:]


def test_a_function_updated_since_approval_is_handed_back_untouched(
    switch: canary_tests.World,
) -> None:
    switch.lam.latest.runtime_arn = NEW_RUNTIME  # the owner deployed meanwhile

    assert canary_tests.Machine(switch).run() == "rolled_back"

    assert "PutRuntimeManagementConfig" not in switch.lam.calls
    assert "updated since approval" in switch.pin.evidence["last_canary"]["rolled_back_because"]
