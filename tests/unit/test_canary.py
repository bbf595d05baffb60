"""The canary's decisions on in-memory fakes of its ports, fault paths included (seconds).

`Machine` plays the state machine's canary section (workflows/remediation.py) and the canary
handler's dispatch (handlers/canary.py): a task that raises the transient error is retried (7
attempts, Rollback too, then RollbackFailed plans the wait and Rollback runs again, for ever)
and then caught into Rollback with the state the task was given, as
Step Functions does; a Stop mid-canary becomes `next: rollback`. Each case ends in one of the
invariant's states — promoted, restored exactly, or handed back with the human's change kept —
mirroring tests/e2e/test_canary_faults.py on the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rollforward import clock
from rollforward.audit.notices import NoticeKind
from rollforward.canary import candidate
from rollforward.canary.candidate import CANDIDATE_DESCRIPTION
from rollforward.canary.service import Canary
from rollforward.canary.state import IN_FLIGHT, CanaryNext, CanaryState, RollbackRetry, Stop
from rollforward.clock import parse_iso
from rollforward.ledger import Pin, Stage
from rollforward.model import UpdateMode
from rollforward.policy import Policy
from rollforward.ports import NotFound
from rollforward.transient import Transient as TransientAwsError

from tests.unit.canary_fakes import (
    FUNCTION_ARN,
    NEW_RUNTIME,
    OLD_RUNTIME,
    OWNERS_DESCRIPTION,
    FakeAudit,
    FakeLambda,
    FakeLocks,
    FakeNotifier,
    FakeSignals,
    approved_pin,
)
from tests.unit.fakes import FakeLedger

STEPS = (0.4, 0.6, 0.8)
# The default (sequential) judge, looking once per 10-minute step. A function without a plan's
# worth of traffic history (the fakes' hourly counts) gets one `bake` per early step.
POLICY = Policy.from_json({"canary": {"steps": list(STEPS), "look_interval": "10m"}})
# 60 a minute through the alias: a healthy candidate has served ~490 settled invocations at the
# second look and ~940 at the third, so it PASSes at the third (an error-free PASS needs 663):
# every step, and every fault case's moment, is reached as with the fixed-horizon judge.
PER_MINUTE = 60
# Today's judge, still selectable: one verdict per bake.
FIXED = Policy.from_json(
    {
        "canary": {
            "judge": "fixed",
            "steps": list(STEPS),
            "min_invocations": 200,
            "max_extensions": 1,
        }
    }
)
FIXED_PER_MINUTE = 1000
START_ATTEMPTS, ROLLBACK_ATTEMPTS = 7, 7


def throttled() -> Exception:
    return TransientAwsError("TooManyRequestsException: Rate exceeded")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake_clock() -> Iterator[Clock]:
    source = Clock()
    clock.set_source(source)
    yield source
    clock.set_source(lambda: datetime.now(UTC))


@dataclass
class World:
    lam: FakeLambda
    signals: FakeSignals
    ledger: FakeLedger
    audit: FakeAudit
    notifier: FakeNotifier
    clock: Clock
    pin: Pin
    canary: Canary
    baseline: str = ""
    locks: FakeLocks = field(default_factory=FakeLocks)
    human_alias: str = ""  # a version a "human" pointed the alias at
    path: list[str] = field(default_factory=list)
    failed_attempts: int = 0


@pytest.fixture
def world(fake_clock: Clock) -> World:
    lam = FakeLambda()
    baseline = lam.publish()
    lam.set_alias("live", baseline)
    signals = FakeSignals(lam, per_minute=PER_MINUTE)
    ledger, audit, notifier = FakeLedger(), FakeAudit(), FakeNotifier()
    locks = FakeLocks()
    canary = Canary(
        ledger=ledger,
        lam=lam,
        signals=signals,
        notifier=notifier,
        audit=audit,
        policy=POLICY,
        locks=locks,
    )
    pin = ledger.put(approved_pin())
    return World(lam, signals, ledger, audit, notifier, fake_clock, pin, canary, baseline, locks)


# ------------------------------------------------------------------------- the machine
class Machine:
    """The canary section of the state machine, with the handler's dispatch."""

    def __init__(self, world: World, decision: dict[str, Any] | None = None) -> None:
        self.w = world
        self.decision = decision or {}
        self.hooks: dict[tuple[str, int], Callable[[], None]] = {}  # (state, n) -> action
        self.entered: list[str] = []
        self.retries: list[RollbackRetry] = []  # what each RollbackFailed planned

    def at(self, state: str, n: int, action: Callable[[], None]) -> None:
        """Run `action` when the machine enters `state` for the n-th time (before its task)."""
        self.hooks[(state, n)] = action

    def _enter(self, name: str) -> None:
        self.entered.append(name)
        self.w.path.append(name)
        hook = self.hooks.pop((name, self.entered.count(name)), None)
        if hook:
            hook()

    def _handle(self, action: str, raw: dict[str, Any], failure: str = "") -> dict[str, Any]:
        w = self.w
        state = CanaryState.from_dict(raw)
        if not state.strategy and w.pin.stage is Stage.CANARY:
            state = CanaryState.from_dict(w.pin.evidence.get(IN_FLIGHT))
        try:
            if action == "start":
                try:
                    return w.canary.start(w.pin, self.decision).to_dict()
                except Stop as stop:
                    if state.candidate_version or stop.hand_back:
                        w.canary.rollback(w.pin, state, stop.reason)
                        return {"next": "rolled_back", "reason": stop.reason}
                    w.canary.stopped(w.pin, stop.reason)
                    return {"next": "stopped", "reason": stop.reason}
            if action == "judge":
                return w.canary.judge_step(w.pin, state).to_dict()
            if action == "promote":
                return w.canary.promote(w.pin, state).to_dict()
            if action == "verify":
                return w.canary.verify(w.pin, state).to_dict()
            if action == "resolve":
                w.canary.resolve(w.pin, state)
                return {**state.to_dict(), "next": "closed"}
            if action == "rollback":
                reason = state.reason or failure
                w.canary.rollback(w.pin, state, reason)
                return {"next": "rolled_back", "reason": reason}
        except Stop as stop:
            state.next, state.reason = CanaryNext.ROLLBACK, stop.reason
            return state.to_dict()
        raise AssertionError(action)

    def _task(self, name: str, action: str, raw: dict[str, Any], attempts: int) -> dict[str, Any]:
        """Retries on the transient error, as the task's Retry does; raises when exhausted.
        Any other error is not retried (the Catch takes it at once)."""
        for attempt in range(attempts):
            try:
                return self._handle(action, raw)
            except TransientAwsError:
                self.w.failed_attempts += 1
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def rollback(self, raw: dict[str, Any], failure: str) -> dict[str, Any]:
        retry: RollbackRetry | None = None
        for _ in range(60):  # Rollback ─(Catch)─► RollbackFailed ─► RollbackBackoff ─► Rollback
            self._enter("Rollback")
            try:
                for attempt in range(ROLLBACK_ATTEMPTS):
                    try:
                        return self._handle("rollback", raw, failure)
                    except TransientAwsError:
                        self.w.failed_attempts += 1
                        if attempt == ROLLBACK_ATTEMPTS - 1:
                            raise
            except Exception as error:  # the Catch (States.ALL): count, wait, roll back again
                self._enter("RollbackFailed")
                retry = self.w.canary.rollback_failed(self.w.pin, retry, str(error))
                self.retries.append(retry)
                self._enter("RollbackBackoff")
                self.w.clock.now += timedelta(seconds=retry.wait_seconds)
        raise AssertionError("rollback never succeeded")

    def run(self, turns: int = 60) -> str:
        """Drive from StartCanary to the end of the canary; the last `next`."""
        raw: dict[str, Any] = {}
        step, action = "StartCanary", "start"
        for _ in range(turns):
            self._enter(step)
            try:
                raw = self._task(step, action, raw, START_ATTEMPTS)
            except Exception as error:  # every canary task's Catch (States.ALL) → Rollback
                raw = self.rollback(raw, f"{step} failed: {error}")
            nxt = raw.get("next")
            if nxt in ("closed", "stopped", "rolled_back"):
                return str(nxt)
            if nxt in ("rollback", "ask_human"):
                raw = self.rollback(raw, "")
                return str(raw["next"])
            if nxt in ("bake", "post_bake"):
                self._enter("Bake" if nxt == "bake" else "PostPromotionBake")
                self.w.clock.now = max(self.w.clock.now, parse_iso(raw["bake_until"]))
                step, action = ("JudgeStep", "judge") if nxt == "bake" else ("Verify", "verify")
            elif nxt == "promote":
                step, action = "Promote", "promote"
            elif nxt == "resolved":
                step, action = "Resolve", "resolve"
            else:
                raise AssertionError(f"unexpected next {nxt!r}")
        raise AssertionError(f"the canary never ended: {self.w.path}")


# ------------------------------------------------------------------------- the invariant
def outcome(w: World) -> str:
    """promoted | restored | handed back | lifted | deleted, or VIOLATION: <why>."""
    lam = w.lam
    if not lam.exists:
        return "deleted"
    description = str(lam.latest.configuration.get("Description", ""))
    if description.startswith(CANDIDATE_DESCRIPTION):
        return f"VIOLATION: $LATEST keeps the candidate's description {description!r}"
    version, weights, mode, arn = lam.state()
    if weights:
        return f"VIOLATION: weighted alias left behind {weights}"
    if mode is UpdateMode.FUNCTION_UPDATE or w.pin.stage in {Stage.CANARY, Stage.APPROVED}:
        return f"VIOLATION: half-moved ($LATEST {mode}, ledger {w.pin.stage})"
    if w.pin.stage is Stage.RESOLVED:
        candidate = lam.versions.get(version)
        if (
            version != w.baseline
            and mode is UpdateMode.AUTO
            and candidate is not None
            and candidate.setting.mode is UpdateMode.AUTO
        ):
            return "promoted"
        return "VIOLATION: resolved but not promoted"
    if (
        version not in (w.baseline,)
        and version in lam.versions
        and lam.versions[version].configuration.get("Description") == "hotfix"
    ):
        return "handed back"
    if version == w.human_alias and w.pin.is_open:
        return "handed back"  # the human's alias kept
    if version != w.baseline:
        return f"VIOLATION: alias on {version}, not the baseline {w.baseline}"
    if mode is UpdateMode.MANUAL and arn == OLD_RUNTIME:
        return "restored"
    if mode is UpdateMode.MANUAL:
        return "handed back"  # a human's new pin, kept
    if mode is UpdateMode.AUTO:
        return "lifted"
    return "VIOLATION: not as it was"


# ------------------------------------------------------------------------- humans
def human_moves_alias(w: World) -> Callable[[], None]:
    def act() -> None:
        w.lam.latest.configuration["Description"] = "hotfix"
        hotfix = w.lam.publish()
        w.lam.set_alias("live", hotfix)

    return act


def human_promotes_by_hand(w: World) -> Callable[[], None]:
    """Sets the alias 100% on the candidate (e.g. satisfied early): never to be undone."""

    def act() -> None:
        candidate = max(w.lam.versions, key=int)
        w.human_alias = candidate
        w.lam.set_alias("live", candidate)

    return act


def human_lifts_pin(w: World) -> Callable[[], None]:
    return lambda: w.lam.put_runtime_setting("f", None, UpdateMode.AUTO)


def human_repins(w: World) -> Callable[[], None]:
    return lambda: w.lam.put_runtime_setting("f", None, UpdateMode.MANUAL, NEW_RUNTIME)


def human_deletes(w: World) -> Callable[[], None]:
    def act() -> None:
        w.lam.exists = False

    return act


# ------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    id: str
    arm: Callable[[World, Machine], object]
    expect: str
    broken_runtime: bool = False


def fault(
    operation: str,
    times: int | None,
    *,
    at: tuple[str, int] = ("StartCanary", 1),
    signals: bool = False,
    until_rollback: bool = False,
) -> Callable[[World, Machine], object]:
    """`times` transient failures of `operation` from the moment the machine enters `at`
    (None: a storm, which ends when Rollback is entered, like the e2e matrix's storms)."""

    def arm(w: World, m: Machine) -> None:
        def start() -> None:
            target = w.signals if signals else w.lam
            armed = target.fail(operation, throttled, times)
            if times is None and not until_rollback:
                m.at("Rollback", 1, lambda: target.faults.remove(armed))

        m.at(*at, start)

    return arm


def storm_through_rollback(
    operation: str, rollback_attempts: int, *, at: tuple[str, int]
) -> Callable[[World, Machine], object]:
    """The storm outlasts `rollback_attempts` Rollback attempts too."""

    def arm(w: World, m: Machine) -> None:
        m.at(*at, lambda: w.lam.fail(operation, throttled, rollback_attempts))

    return arm


def human(
    action: Callable[[World], Callable[[], None]], at: tuple[str, int]
) -> Callable[[World, Machine], object]:
    def arm(w: World, m: Machine) -> None:
        m.at(*at, action(w))

    return arm


def racing(
    operation: str, action: Callable[[World], Callable[[], None]], at: tuple[str, int]
) -> Callable[[World, Machine], object]:
    """The human acts inside the step, just before its `operation` call lands."""

    def arm(w: World, m: Machine) -> None:
        m.at(*at, lambda: w.lam.before(operation, action(w)))

    return arm


START, BAKE_1, BAKE_2, BAKE_3 = ("StartCanary", 1), ("Bake", 1), ("Bake", 2), ("Bake", 3)
POST_BAKE = ("PostPromotionBake", 1)
PUT, ALIAS, METRICS = "PutRuntimeManagementConfig", "UpdateAlias", "GetMetricData"

CASES = [
    Case("healthy", lambda w, m: None, "promoted"),
    Case("broken-runtime", lambda w, m: None, "restored", broken_runtime=True),
    Case("pre-429x3", fault("GetRuntimeManagementConfig", 3), "promoted"),
    Case("pre-429-storm", fault("GetRuntimeManagementConfig", None), "restored"),
    Case("cand-put-x2", fault(PUT, 2), "promoted"),
    Case("cand-put-storm", fault(PUT, None), "restored"),
    Case("cand-update-x6", fault("UpdateFunctionConfiguration", 6), "promoted"),
    Case("cand-publish-storm", fault("PublishVersion", None), "restored"),
    Case("shift1-x6", fault(ALIAS, 6), "promoted"),
    Case("shift1-storm", fault(ALIAS, None), "restored"),
    Case("shift2-storm", fault(ALIAS, None, at=BAKE_1), "restored"),
    Case("shift3-storm", fault(ALIAS, None, at=BAKE_2), "restored"),
    Case("judge-x6", fault(METRICS, 6, at=BAKE_1, signals=True), "promoted"),
    Case("judge-storm", fault(METRICS, None, at=BAKE_2, signals=True), "restored"),
    Case("promote-alias-storm", fault(ALIAS, None, at=BAKE_3), "restored"),
    Case("promote-put-x2", fault(PUT, 2, at=BAKE_3), "promoted"),
    Case("promote-put-storm", fault(PUT, None, at=BAKE_3), "restored"),
    Case("verify-storm", fault(METRICS, None, at=POST_BAKE, signals=True), "restored"),
    Case("rollback-alias-x12", fault(ALIAS, 12, at=BAKE_1), "restored", broken_runtime=True),
    Case("rollback-put-x2", fault(PUT, 2, at=BAKE_1), "restored", broken_runtime=True),
    Case(
        "rollback-alias-storm-outlasts-retries",
        storm_through_rollback(ALIAS, 3 * ROLLBACK_ATTEMPTS + 5, at=BAKE_1),
        "restored",
        broken_runtime=True,
    ),
    Case(
        "rollback-getalias-storm-outlasts-retries",
        storm_through_rollback("GetAlias", 2 * ROLLBACK_ATTEMPTS + 5, at=BAKE_1),
        "restored",
        broken_runtime=True,
    ),
    Case("human-alias-bake2", human(human_moves_alias, BAKE_2), "handed back"),
    Case("human-lift-bake1", human(human_lifts_pin, BAKE_1), "lifted"),
    Case("human-repin-bake2", human(human_repins, BAKE_2), "handed back"),
    Case("human-delete-bake2", human(human_deletes, BAKE_2), "deleted"),
    Case("human-delete-candidate", racing("PublishVersion", human_deletes, START), "deleted"),
    Case("human-alias-postbake", human(human_moves_alias, POST_BAKE), "handed back"),
    Case("human-promotes-by-hand-bake2", human(human_promotes_by_hand, BAKE_2), "handed back"),
    Case("human-alias-race-shift2", racing(ALIAS, human_moves_alias, BAKE_1), "handed back"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_invariant_holds_under_faults(world: World, case: Case) -> None:
    if case.broken_runtime:
        world.signals.error_rates[NEW_RUNTIME] = 0.5
    machine = Machine(world)
    case.arm(world, machine)
    machine.run()
    result = outcome(world)
    assert not result.startswith("VIOLATION"), f"{result}; path {world.path}"
    assert result == case.expect, f"{result}; path {world.path}"


# ------------------------------------------------------------------------- decisions
def test_a_healthy_canary_walks_every_step_then_promotes_and_tells_the_owner(world: World) -> None:
    assert Machine(world).run() == "closed"
    assert world.path.count("Bake") == len(STEPS)
    assert world.pin.stage is Stage.RESOLVED and IN_FLIGHT not in world.pin.evidence
    assert [kind for kind, _ in world.notifier.sent] == [
        NoticeKind.CANARY_STARTED,
        NoticeKind.PROMOTED,
    ]
    assert world.pin.evidence["canary"]["candidate_runtime_arn"] == NEW_RUNTIME


def test_a_promotion_no_traffic_verifies_is_resolved_saying_it_was_not_verified(
    world: World,
) -> None:
    """The window after promotion saw no traffic: the candidate passed every step, so it
    stays promoted, but the pin's outcome does not claim "verified"."""
    machine = Machine(world)
    machine.at("PostPromotionBake", 1, lambda: setattr(world.signals, "per_minute", 0))
    # (No error in no invocations was a FAIL: a quiet hour after promotion rolled it back.)
    assert machine.run() == "closed", world.pin.evidence.get("last_canary")
    assert world.pin.stage is Stage.RESOLVED and outcome(world) == "promoted"
    assert world.pin.evidence["canary"]["verdicts"][-1]["outcome"] == "INCONCLUSIVE"
    detail = world.pin.outcome["detail"]
    assert detail.startswith("promoted; not verified after promotion (")
    assert "no evidence of one" in detail  # the verdict's reasons, said to the owner


def test_the_baseline_keeps_the_old_runtime_pinned_explicitly(world: World) -> None:
    Machine(world).run()
    baseline = world.lam.versions[world.baseline].setting
    assert (baseline.mode, baseline.runtime_version_arn) == (UpdateMode.MANUAL, OLD_RUNTIME)


def test_a_regression_rolls_back_at_the_first_judge_with_the_verdict_as_reason(
    world: World,
) -> None:
    world.signals.error_rates[NEW_RUNTIME] = 0.5
    assert Machine(world).run() == "rolled_back"
    assert world.path.count("Bake") == 1
    last = world.pin.evidence["last_canary"]
    assert last["rolled_back_because"] and "restored" in last
    assert [k for k, _ in world.notifier.sent][-1] is NoticeKind.ROLLED_BACK


def test_no_newer_runtime_resolves_without_traffic_steps(world: World) -> None:
    world.lam.newest_runtime = OLD_RUNTIME
    Machine(world).run()
    assert "Bake" not in world.path and world.pin.stage is Stage.RESOLVED
    assert world.pin.evidence["canary"]["reason"].startswith(
        "the newest runtime version is the pinned one"
    )


@pytest.mark.parametrize("judge", ["sequential", "fixed"])
def test_no_init_start_on_the_new_runtime_rolls_back(
    world: World, monkeypatch: pytest.MonkeyPatch, judge: str
) -> None:
    if judge == "fixed":
        judged_by(world, FIXED, FIXED_PER_MINUTE)
    else:  # a PASS without the proof keeps looking, and the plan's end hands it back
        judged_by(world, Policy.from_json({"canary": {"max_duration": "3h"}}), PER_MINUTE)
    monkeypatch.setattr(world.signals, "log_events", lambda *a, **k: [])
    assert Machine(world).run(turns=200) == "rolled_back"
    assert "no INIT_START" in world.pin.evidence["last_canary"]["rolled_back_because"]
    assert outcome(world) == "restored"


def test_fixed_too_little_traffic_is_inconclusive_then_handed_to_a_human_never_a_pass(
    world: World,
) -> None:
    judged_by(world, FIXED, 4)
    assert Machine(world).run() == "rolled_back"
    assert world.path.count("Bake") == 1 + FIXED.canary.max_extensions
    assert world.pin.evidence["last_canary"]["next"] == "ask_human"
    assert outcome(world) == "restored"


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (
            lambda w: w.lam.set_alias("live", w.baseline, {w.lam.publish(): 0.1}),
            "already splits traffic",
        ),
        (lambda w: w.lam.set_alias("other", w.baseline), "several aliases"),
        (lambda w: w.lam.tags_.update({"rollforward:alias": "nope"}), "which does not exist"),
        (lambda w: w.lam.latest.configuration.update(MemorySize=256), "unpublished changes"),
        (lambda w: w.lam.tags_.update({"rollforward:alarms": "missing"}), "do not exist"),
        (
            lambda w: (
                w.lam.tags_.update({"rollforward:alarms": "a"}),
                w.signals.alarms.update(a="ALARM"),
            ),
            "already in ALARM",
        ),
        (lambda w: w.lam.set_alias("live", "$LATEST"), "points at $LATEST"),
    ],
)
def test_preflight_refuses_before_any_change(
    world: World, prepare: Callable[[World], object], reason: str
) -> None:
    prepare(world)
    before = (world.lam.state(), dict(world.lam.versions), world.lam.latest.runtime_arn)
    assert Machine(world).run() == "stopped"
    assert reason in world.pin.evidence["stopped"]["reason"]
    assert (
        "PutRuntimeManagementConfig" not in world.lam.calls and "UpdateAlias" not in world.lam.calls
    )
    assert (world.lam.state(), dict(world.lam.versions), world.lam.latest.runtime_arn) == before
    assert world.pin.stage is Stage.TRACKING


def test_a_pin_changed_since_approval_is_handed_back_untouched(world: World) -> None:
    world.lam.put_runtime_setting("f", None, UpdateMode.MANUAL, NEW_RUNTIME)
    assert Machine(world).run() == "rolled_back"
    assert world.lam.state()[2:] == (UpdateMode.MANUAL, NEW_RUNTIME)
    assert "UpdateAlias" not in world.lam.calls


def test_a_failed_notice_never_stops_a_healthy_canary_and_is_audited(world: World) -> None:
    world.notifier.broken = True
    Machine(world).run()
    assert outcome(world) == "promoted"
    assert "failed" in world.audit.events()


def test_a_retried_start_resumes_its_own_half_made_candidate(world: World) -> None:
    """PublishVersion fails once after `$LATEST` went FunctionUpdate: the retry picks up."""
    world.lam.fail("PublishVersion", throttled, 1)
    Machine(world).run()
    assert outcome(world) == "promoted"
    assert world.pin.evidence["canary"]["baseline_version"] == world.baseline


def test_the_candidate_carries_rollforwards_description_and_latest_keeps_the_owners(
    world: World,
) -> None:
    """The touch that applies the newest runtime writes `$LATEST`'s Description; once the
    candidate is published the owner's text is back (an IaC stack would see drift otherwise)."""
    Machine(world).run()
    assert outcome(world) == "promoted"
    assert world.lam.latest.configuration["Description"] == OWNERS_DESCRIPTION
    candidate = world.pin.evidence["canary"]["candidate_version"]
    touched = world.lam.versions[candidate].configuration["Description"]
    assert touched.startswith(CANDIDATE_DESCRIPTION)


def test_rollback_puts_the_owners_description_back_but_keeps_one_a_human_wrote_since(
    world: World,
) -> None:
    """PublishVersion fails for good after the touch: Rollback restores the Description it
    changed; had a human rewritten it meanwhile, theirs stays."""
    world.lam.fail("PublishVersion", throttled, None)
    Machine(world).run()
    assert outcome(world) == "restored"
    assert world.lam.latest.configuration["Description"] == OWNERS_DESCRIPTION

    world.lam.clear_faults()
    state = CanaryState.from_dict(world.pin.evidence["last_canary"])
    world.lam.latest.configuration["Description"] = "hotfix notes"
    world.canary.rollback(world.pin, state, "again")
    assert world.lam.latest.configuration["Description"] == "hotfix notes"


def test_every_update_the_canary_makes_is_waited_for_before_the_next_change(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On AWS an update returns before it is done (`LastUpdateStatus` InProgress), and
    PublishVersion or another update meanwhile is refused (ResourceConflictException): the
    candidate's touch and the Description's restore are each waited for, so neither the
    publish nor the restore ever meets an update in progress."""
    monkeypatch.setattr(candidate, "UPDATE_POLL_SECONDS", 0.0)
    world.lam.update_reads_in_progress = 2
    assert Machine(world).run() == "closed"
    assert outcome(world) == "promoted"
    assert world.failed_attempts == 0  # no step met a conflict and was retried
    assert world.lam.latest.configuration["Description"] == OWNERS_DESCRIPTION


def test_an_update_that_never_completes_is_read_at_growing_intervals_then_retried(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read at once, then 0.25 s doubling to 2 s between reads; after about a minute the step
    is handed back to the state machine's retry (Transient), not held for the task's timeout."""
    slept: list[float] = []
    monkeypatch.setattr(candidate.time, "sleep", slept.append)
    world.lam.update_reads_in_progress = 10_000
    world.lam.set_description(FUNCTION_ARN, "an update")

    with pytest.raises(TransientAwsError):
        candidate.wait_until_updated(world.canary.ctx, FUNCTION_ARN)

    assert slept[:5] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert max(slept) == candidate.UPDATE_POLL_MAX_SECONDS
    assert 55 <= sum(slept) <= 65


def test_rollback_is_idempotent(world: World) -> None:
    world.signals.error_rates[NEW_RUNTIME] = 0.5
    Machine(world).run()
    state = CanaryState.from_dict(world.pin.evidence["last_canary"])
    calls = len(world.lam.calls)
    world.canary.rollback(world.pin, state, "again")
    assert outcome(world) == "restored"
    assert "UpdateAlias" in world.lam.calls[calls:]  # it re-asserts the baseline ...
    assert world.lam.state()[:2] == (world.baseline, {})  # ... and nothing moves


# ------------------------------------------------------------------------- synthetic strategy
@pytest.fixture
def unaliased(world: World) -> World:
    world.lam.aliases_.clear()
    return world


def test_synthetic_without_test_events_needs_accept_untested(unaliased: World) -> None:
    assert Machine(unaliased).run() == "stopped"
    assert "accept_untested" in unaliased.pin.evidence["stopped"]["reason"]


def test_synthetic_with_passing_test_events_promotes_latest(unaliased: World) -> None:
    unaliased.lam.tags_["rollforward:test-events"] = "/events"
    unaliased.signals.parameters["/events"] = '[{"a": 1}, {"b": 2}]'
    assert Machine(unaliased).run() == "closed"
    assert unaliased.lam.calls.count("Invoke") == 2
    assert unaliased.lam.latest.setting.mode is UpdateMode.AUTO


def test_synthetic_test_event_failure_rolls_back_to_the_pin(unaliased: World) -> None:
    unaliased.lam.tags_["rollforward:test-events"] = "/events"
    unaliased.signals.parameters["/events"] = "[{}]"
    unaliased.lam.invoke_errors.add(NEW_RUNTIME)
    assert Machine(unaliased).run() == "rolled_back"
    assert unaliased.lam.latest.setting == unaliased.lam.latest.setting.__class__(
        UpdateMode.MANUAL, OLD_RUNTIME
    )


@pytest.mark.parametrize("value", ["not json", "[]", '{"a": 1}'])
def test_synthetic_unreadable_test_events_stop(unaliased: World, value: str) -> None:
    unaliased.lam.tags_["rollforward:test-events"] = "/events"
    unaliased.signals.parameters["/events"] = value
    assert Machine(unaliased).run() == "stopped"


def test_synthetic_accept_untested_bakes_and_promotes(unaliased: World) -> None:
    assert Machine(unaliased, {"accept_untested": True}).run() == "closed"
    assert unaliased.pin.stage is Stage.RESOLVED


# ------------------------------------------------------------------------- state
def test_state_round_trips_and_drops_unknown_keys() -> None:
    state = CanaryState(strategy="alias", next="bake", verdicts=[{"step": 1}])
    assert CanaryState.from_dict({**state.to_dict(), "from_an_older_deploy": 1}) == state
    assert state.to_dict()["next"] == "bake" and CanaryState.from_dict(None) == CanaryState()


def test_state_refuses_a_next_the_state_machine_does_not_know() -> None:
    with pytest.raises(ValueError):
        CanaryState.from_dict({"next": "promote_maybe"})
    state = CanaryState()
    with pytest.raises(ValueError):
        state.next = "nowhere"  # type: ignore[assignment]


def test_every_next_value_is_routed_by_the_state_machine() -> None:
    """The workflow's CanaryNext Choice is built from this enum: every member has a meaning."""
    assert {n.value for n in CanaryNext} == {
        "bake",
        "promote",
        "post_bake",
        "resolved",
        "rollback",
        "ask_human",
        "stopped",
        "rolled_back",
    }


def test_not_found_is_a_domain_error() -> None:
    assert not issubclass(NotFound, TransientAwsError)


# ------------------------------------------------------------------------- the sequential judge
SEQUENTIAL = Policy.from_json({})  # the default policy: 5% → 25% → 50%, looks every 5 minutes


def judged_by(world: World, policy: Policy = SEQUENTIAL, per_minute: int = 1000) -> World:
    world.canary = Canary(
        ledger=world.ledger,
        lam=world.lam,
        signals=world.signals,
        notifier=world.notifier,
        audit=world.audit,
        policy=policy,
    )
    world.signals.per_minute = per_minute
    return world


def test_sequential_a_busy_healthy_function_passes_within_minutes_and_promotes(
    world: World,
) -> None:
    judged_by(world)
    world.signals.error_rates = {OLD_RUNTIME: 0.001, NEW_RUNTIME: 0.001}
    assert Machine(world).run() == "closed"
    assert outcome(world) == "promoted"
    canary = world.pin.evidence["canary"]
    # At 5% then 25% of 1,000 a minute the evidence suffices within minutes: promoted early.
    assert canary["judge"] == "sequential" and canary["step_index"] <= 1
    assert 1 < canary["looks"] == world.path.count("Bake") <= 4
    looks = [v for v in canary["verdicts"] if v.get("look")]  # (then the post-promotion one)
    assert [v["outcome"] for v in looks] == ["CONTINUE"] * (canary["looks"] - 1) + ["PASS"]
    assert looks[-1]["candidate_invocations"] >= 528  # the minimum information
    assert "invocations/day: a healthy candidate should pass" in canary["plan_summary"]


def test_sequential_a_tenfold_regression_fails_at_any_look_and_rolls_back(world: World) -> None:
    judged_by(world)
    world.signals.error_rates = {OLD_RUNTIME: 0.001, NEW_RUNTIME: 0.01}
    assert Machine(world).run() == "rolled_back"
    assert outcome(world) == "restored"
    last = world.pin.evidence["last_canary"]
    assert last["verdicts"][-1]["outcome"] == "FAIL"
    assert "error rate regressed" in last["rolled_back_because"]


def test_sequential_folds_every_settled_minute_exactly_once(world: World) -> None:
    """Evidence accumulates across looks and weight changes: the totals are the minutes'."""
    judged_by(world, Policy.from_json({"canary": {"max_duration": "3h"}}))
    world.signals.per_minute = 4  # far too little to decide: the canary walks every step
    assert Machine(world).run(turns=200) == "rolled_back"
    last = world.pin.evidence["last_canary"]
    evidence = last["evidence"]
    start, end = parse_iso(last["started_at"]), parse_iso(last["folded_until"])
    assert end > start
    minutes = int((end - start.replace(second=0)).total_seconds() // 60)
    assert evidence["minutes"] == minutes
    # 4 a minute through the alias: the two versions' counts add up to the whole traffic.
    assert evidence["candidate_invocations"] + evidence["baseline_invocations"] == pytest.approx(
        4 * minutes, abs=2 * minutes
    )
    shifts = [
        d["weight"] for e, d in world.audit.records if str(d.get("step", "")).startswith("shift")
    ]
    assert shifts == [0.05, 0.25, 0.5]  # walked the plan's steps, evidence kept across them


def test_sequential_too_little_traffic_is_inconclusive_only_at_the_plans_end(world: World) -> None:
    judged_by(world, Policy.from_json({"canary": {"max_duration": "3h"}}))
    world.signals.per_minute = 0  # ~no traffic at all: ~40/day rounds to nothing a minute
    assert Machine(world).run(turns=200) == "rolled_back"
    last = world.pin.evidence["last_canary"]
    assert last["next"] == "ask_human"
    outcomes = [v["outcome"] for v in last["verdicts"]]
    assert outcomes[-1] == "INCONCLUSIVE" and set(outcomes[:-1]) <= {"CONTINUE"}
    assert world.clock.now >= parse_iso(last["plan_end"])  # never before the plan's end
    assert "options: test events, a longer window, or accept untested" in last["plan_summary"]
    assert outcome(world) == "restored"


def test_sequential_plan_states_a_low_traffic_functions_duration() -> None:
    """~40 invocations/day: the plan says how long an unattended canary would need."""
    from rollforward.canary.plan import plan_canary

    hourly = [2 if h % 24 in range(8, 16) else 1 for h in range(7 * 24)]  # ~32/day
    summary = plan_canary(hourly, SEQUENTIAL.canary).summary
    assert summary.startswith("~") and "an unattended canary would need" in summary
    assert "options: test events, a longer window, or accept untested" in summary


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixed_the_invariant_holds_under_faults(world: World, case: Case) -> None:
    """Every fault case with today's judge (`canary.judge: fixed`): one verdict per bake."""
    judged_by(world, FIXED, FIXED_PER_MINUTE)
    if case.broken_runtime:
        world.signals.error_rates[NEW_RUNTIME] = 0.5
    machine = Machine(world)
    case.arm(world, machine)
    machine.run()
    result = outcome(world)
    assert not result.startswith("VIOLATION"), f"{result}; path {world.path}"
    assert result == case.expect, f"{result}; path {world.path}"


def test_rollback_leaves_a_humans_pin_of_the_baseline_version_alone(world: World) -> None:
    """The baseline was Auto; rollforward pinned it for the canary; a human re-pins it
    elsewhere mid-canary: Rollback re-reads first and keeps the human's setting."""
    from tests.unit.canary_fakes import RuntimeConfig

    world.lam.versions[world.baseline].setting = RuntimeConfig(UpdateMode.AUTO)
    world.signals.error_rates[NEW_RUNTIME] = 0.5
    machine = Machine(world)
    human_pin = RuntimeConfig(UpdateMode.MANUAL, NEW_RUNTIME)
    machine.at("Bake", 1, lambda: setattr(world.lam.versions[world.baseline], "setting", human_pin))
    assert machine.run() == "rolled_back"
    assert world.lam.versions[world.baseline].setting == human_pin
    assert any("left as a human set it" in r for r in world.pin.evidence["last_canary"]["restored"])


def test_rollback_restores_the_baseline_versions_own_setting(world: World) -> None:
    from tests.unit.canary_fakes import RuntimeConfig

    world.lam.versions[world.baseline].setting = RuntimeConfig(UpdateMode.AUTO)
    world.signals.error_rates[NEW_RUNTIME] = 0.5
    assert Machine(world).run() == "rolled_back"
    assert world.lam.versions[world.baseline].setting.mode is UpdateMode.AUTO


def test_a_promote_that_died_after_moving_the_alias_is_still_rolled_back(world: World) -> None:
    """Promote moved the alias, then its Put storm outlasted the retries: the alias at 100% on
    the candidate is rollforward's (recorded before the move), so Rollback restores it."""
    machine = Machine(world)
    machine.at(
        "Promote",
        1,
        lambda: world.lam.fail("PutRuntimeManagementConfig", throttled, START_ATTEMPTS),
    )
    machine.run()
    assert outcome(world) == "restored"


# ------------------------------------------------------------------------- dead executions
class ExecutionDied(Exception):
    """The execution was stopped (or failed, or timed out) while parked in a state."""


def die() -> None:
    raise ExecutionDied


def repair(w: World) -> None:
    """What the scan's repair does for a dead canary: the canary's Rollback, given only the
    ledger (the handler reads the in-flight record when `$.canary` is empty)."""
    assert w.pin.stage is Stage.CANARY
    state = CanaryState.from_dict(w.pin.evidence.get(IN_FLIGHT))
    w.canary.rollback(w.pin, state, "the canary's execution died")


@pytest.mark.parametrize("parked", [BAKE_1, BAKE_3, POST_BAKE], ids=["bake1", "bake3", "postbake"])
def test_a_canary_whose_execution_died_is_restored_from_the_ledger_alone(
    world: World, parked: tuple[str, int]
) -> None:
    """Issue 11: a canary that died in its post-promotion bake was restored with `$LATEST` left
    on Auto, because Promote never recorded `promoted` in the in-flight record."""
    machine = Machine(world)
    machine.at(*parked, die)
    with pytest.raises(ExecutionDied):
        machine.run()
    repair(world)
    assert outcome(world) == "restored", world.pin.evidence["last_canary"]["restored"]


def test_a_function_deleted_just_before_rollbacks_alias_update_ends_deleted_not_failed(
    world: World,
) -> None:
    world.signals.error_rates[NEW_RUNTIME] = 0.5
    machine = Machine(world)
    machine.at("Rollback", 1, lambda: world.lam.before("UpdateAlias", human_deletes(world)))
    assert machine.run() == "rolled_back"
    assert "RollbackBackoff" not in world.path and world.failed_attempts == 0
    assert outcome(world) == "deleted"
    assert "the function no longer exists" in world.pin.evidence["last_canary"]["restored"]


def test_a_human_repin_between_rollbacks_alias_write_and_its_setting_read_is_kept(
    world: World,
) -> None:
    """Rollback re-reads `$LATEST` just before its write: a re-pin that lands after the alias
    moved back is the human's, and stays."""
    world.signals.error_rates[NEW_RUNTIME] = 0.5
    machine = Machine(world)
    machine.at(
        "Rollback", 1, lambda: world.lam.before("GetRuntimeManagementConfig", human_repins(world))
    )
    assert machine.run() == "rolled_back"
    assert outcome(world) == "handed back"
    assert world.lam.state()[2:] == (UpdateMode.MANUAL, NEW_RUNTIME)


# ------------------------------------------------------------------------- a rollback that never gives up
def test_rollback_backoff_doubles_from_a_minute_to_its_cap() -> None:
    from rollforward.canary.rollback import backoff

    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    waits = [backoff(n, minute, hour) / minute for n in range(1, 10)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff(10_000, minute, hour) == hour  # no overflow, however long it lasts


def test_a_six_hour_429_storm_through_rollback_ends_restored_and_on_call_hears_once_stuck(
    world: World,
) -> None:
    """Issue 11: Rollback gave up after 39-80 emulated minutes. Now it waits (1m, 2m, 4m ...
    1h) and tries again until the storm is over; from the 5th failure on-call is told and
    RollbackStuck published, once per 5 failures, while it goes on."""
    world.signals.error_rates[NEW_RUNTIME] = 0.5
    machine = Machine(world)

    def storm() -> None:
        until = world.clock.now + timedelta(hours=6)
        for operation in ("UpdateAlias", "GetAlias"):
            world.lam.fail(operation, throttled, None).when = lambda: world.clock.now < until

    machine.at("Rollback", 1, storm)
    started = world.clock.now
    assert machine.run() == "rolled_back"
    assert outcome(world) == "restored"
    assert world.clock.now - started >= timedelta(hours=6)
    attempts = [r.attempts for r in machine.retries]
    assert attempts == list(range(1, len(attempts) + 1)) and len(attempts) >= 8
    assert [r.wait_seconds for r in machine.retries[:7]] == [60, 120, 240, 480, 960, 1920, 3600]
    assert [r.stuck for r in machine.retries] == [n >= 5 for n in attempts]
    stuck_notices = [k for k, _ in world.notifier.sent if k is NoticeKind.ROLLBACK_STUCK]
    assert len(stuck_notices) == len([n for n in attempts if n >= 5 and (n - 5) % 5 == 0])
    assert world.path.count("Rollback") == len(attempts) + 1


def test_a_failed_rollback_is_planned_even_when_the_audit_trail_is_down(world: World) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("CloudWatch Logs: ServiceUnavailable")

    world.audit.record = broken  # type: ignore[method-assign]
    retry = world.canary.rollback_failed(world.pin, None, "boom")
    assert (retry.attempts, retry.wait_seconds, retry.stuck) == (1, 60, False)
    assert world.canary.rollback_failed(None, retry, "boom").attempts == 2  # pin closed meanwhile


# ------------------------------------------------------------------------- one canary per function
def version_pin(qualifier: str) -> Pin:
    from rollforward.model import PinKey

    pin = approved_pin()
    pin.key = PinKey(pin.key.function_arn, qualifier)
    return pin


def stored_version_pin(w: World, qualifier: str) -> Pin:
    return w.ledger.put(version_pin(qualifier))


def test_a_second_pin_of_the_function_waits_for_the_first_canary_whatever_its_qualifier(
    world: World,
) -> None:
    """Issue 11: two approved pins of one function ($LATEST and version 1) ran canaries at
    once, and the version-1 canary's rollback reset $LATEST mid-way through the other."""
    other = stored_version_pin(world, world.baseline)
    refused: list[str] = []

    def second_canary() -> None:
        calls = len(world.lam.calls)
        with pytest.raises(Stop) as stop:
            world.canary.start(other, {})
        refused.append(stop.value.reason)
        world.canary.stopped(other, stop.value.reason)  # as the handler does
        changing = {"PutRuntimeManagementConfig", "UpdateAlias", "PublishVersion"}
        assert not changing & set(world.lam.calls[calls:])  # refused before any change

    machine = Machine(world)
    machine.at("Bake", 1, second_canary)
    assert machine.run() == "closed"
    assert outcome(world) == "promoted"  # the first canary was not disturbed
    assert "another canary of this function is running" in refused[0]
    assert world.pin.key.id in refused[0] and other.stage is Stage.TRACKING
    assert world.locks.held == {}  # released by Resolve: the next canary may start
    assert world.locks.acquire(other.key.function_arn, other.key.id, world.clock.now) is None


@pytest.mark.parametrize("ending", ["rollback", "stopped"])
def test_the_function_is_free_again_after_a_rollback_or_a_preflight_stop(
    world: World, ending: str
) -> None:
    if ending == "rollback":
        world.signals.error_rates[NEW_RUNTIME] = 0.5
    else:
        world.lam.set_alias("other", world.baseline)  # several aliases: preflight refuses
    Machine(world).run()
    assert world.locks.held == {}


def test_a_hold_left_by_a_canary_that_is_over_is_taken_over(world: World) -> None:
    """The holder's execution died after its canary ended without releasing (say, Resolve's
    release failed): its pin is closed, so the hold is stale."""
    stale = stored_version_pin(world, world.baseline)
    world.ledger.update(stale, world.clock.now, stage=Stage.RESOLVED)
    world.locks.held[stale.key.function_arn] = stale.key.id
    assert Machine(world).run() == "closed" and outcome(world) == "promoted"


def test_a_hold_of_a_canary_still_running_is_never_taken_over(world: World) -> None:
    running = stored_version_pin(world, world.baseline)
    world.ledger.update(running, world.clock.now, stage=Stage.CANARY)
    world.locks.held[running.key.function_arn] = running.key.id
    assert Machine(world).run() == "stopped"
    assert world.locks.held == {running.key.function_arn: running.key.id}


def test_a_baseline_version_a_human_pinned_is_never_repinned_by_the_canary(world: World) -> None:
    """Version 1 behind the alias has its own pin (Manual on another ARN): the `$LATEST`
    canary uses it as the baseline as it is, and never moves that pin."""
    from tests.unit.canary_fakes import RuntimeConfig

    third = "arn:aws:lambda:us-east-1::runtime:" + "c" * 64
    human_pin = RuntimeConfig(UpdateMode.MANUAL, third)
    world.lam.versions[world.baseline].setting = human_pin
    for broken in (False, True):
        world.signals.error_rates[NEW_RUNTIME] = 0.5 if broken else 0.0
        world.pin = world.ledger.put(approved_pin())
        world.lam.latest.setting = RuntimeConfig(UpdateMode.MANUAL, OLD_RUNTIME)
        world.lam.set_alias("live", world.baseline)
        Machine(world).run()
        assert world.lam.versions[world.baseline].setting == human_pin


# ------------------------------------------------------------------------- a pinned published version
@pytest.fixture
def version_world(world: World) -> World:
    """Version 1 behind alias `live` is pinned (Manual on the old runtime); `$LATEST`, equal
    to it, is on Auto: the pin's key names version 1."""
    from tests.unit.canary_fakes import RuntimeConfig

    world.lam.latest.setting = RuntimeConfig(UpdateMode.AUTO)
    world.pin = stored_version_pin(world, world.baseline)
    return world


def version_state(w: World) -> tuple[str, dict[str, float], UpdateMode, str | None, UpdateMode]:
    """(alias version, weights, pinned version's mode and pinned ARN, `$LATEST`'s mode)."""
    version, weights, latest_mode, _ = w.lam.state()
    setting = w.lam.versions[w.baseline].setting
    return version, weights, setting.mode, setting.runtime_version_arn, latest_mode


def test_a_pinned_version_behind_an_alias_is_promoted_through_the_alias(
    version_world: World,
) -> None:
    w = version_world
    assert Machine(w).run() == "closed" and w.pin.stage is Stage.RESOLVED
    canary = w.pin.evidence["canary"]
    assert canary["strategy"] == "version_alias" and canary["baseline_version"] == w.baseline
    candidate = canary["candidate_version"]
    assert w.lam.versions[candidate].runtime_arn == NEW_RUNTIME
    assert w.lam.versions[candidate].setting.mode is UpdateMode.AUTO
    # The alias serves the candidate; the pinned version is unpinned; `$LATEST` kept its mode.
    assert version_state(w) == (candidate, {}, UpdateMode.AUTO, None, UpdateMode.AUTO)
    assert w.path.count("Bake") == len(STEPS) and w.locks.held == {}


def test_a_regression_of_a_pinned_version_is_rolled_back_exactly(version_world: World) -> None:
    w = version_world
    w.signals.error_rates[NEW_RUNTIME] = 0.5
    assert Machine(w).run() == "rolled_back"
    assert version_state(w) == (w.baseline, {}, UpdateMode.MANUAL, OLD_RUNTIME, UpdateMode.AUTO)
    assert "PutRuntimeManagementConfig" not in w.lam.calls  # no setting was ever changed
    assert w.pin.stage is Stage.TRACKING and w.locks.held == {}


def test_a_pinned_version_whose_canary_died_after_promotion_is_restored(
    version_world: World,
) -> None:
    w = version_world
    machine = Machine(w)
    machine.at(*POST_BAKE, die)
    with pytest.raises(ExecutionDied):
        machine.run()
    repair(w)
    assert version_state(w) == (w.baseline, {}, UpdateMode.MANUAL, OLD_RUNTIME, UpdateMode.AUTO)


def test_a_pinned_version_changed_by_a_human_mid_canary_is_handed_back(
    version_world: World,
) -> None:
    w = version_world
    machine = Machine(w)
    machine.at(
        *BAKE_1,
        lambda: w.lam.put_runtime_setting("f", w.baseline, UpdateMode.MANUAL, NEW_RUNTIME),
    )
    assert machine.run() == "rolled_back"
    assert version_state(w) == (w.baseline, {}, UpdateMode.MANUAL, NEW_RUNTIME, UpdateMode.AUTO)
    assert "handing back" in w.pin.evidence["last_canary"]["rolled_back_because"]


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        # (no alias routes to it and no test events: the version_synthetic strategy's Stop)
        (lambda w: w.lam.set_alias("live", w.lam.publish()), "no alias routes to version 1"),
        (lambda w: w.lam.set_alias("beta", w.baseline), "several aliases route to version 1"),
        (
            lambda w: w.lam.set_alias("live", w.baseline, {w.lam.publish(): 0.1}),
            "already splits traffic",
        ),
        (
            lambda w: w.lam.put_runtime_setting("f", None, UpdateMode.MANUAL, OLD_RUNTIME),
            "$LATEST is pinned as well",
        ),
        (lambda w: w.lam.latest.configuration.update(MemorySize=256), "unpublished changes"),
    ],
)
def test_a_pinned_version_the_canary_cannot_reach_is_refused_before_any_change(
    version_world: World, prepare: Callable[[World], object], reason: str
) -> None:
    w = version_world
    prepare(w)
    calls = len(w.lam.calls)
    assert Machine(w).run() == "stopped"
    assert reason in w.pin.evidence["stopped"]["reason"]
    changing = {"PutRuntimeManagementConfig", "UpdateAlias", "PublishVersion"}
    assert not changing & set(w.lam.calls[calls:])


# ------------------------------------------------------------ a pinned published version, no alias
@pytest.fixture
def direct_world(version_world: World) -> World:
    """Version 1 is pinned and invoked by its qualifier: no alias routes to it; the owner's
    test events are named by the function's tag."""
    version_world.lam.aliases_.clear()
    version_world.lam.tags_["rollforward:test-events"] = "/events"
    version_world.signals.parameters["/events"] = '[{"a": 1}, {"b": 2}]'
    return version_world


def direct_state(w: World) -> tuple[UpdateMode, str | None, str, UpdateMode]:
    """(pinned version's mode and pinned ARN, the runtime it runs, `$LATEST`'s mode)."""
    version = w.lam.versions[w.baseline]
    return (
        version.setting.mode,
        version.setting.runtime_version_arn,
        version.runtime_arn,
        (w.lam.latest.setting.mode),
    )


def test_a_pinned_version_without_an_alias_is_tested_moved_verified_then_auto(
    direct_world: World,
) -> None:
    w = direct_world
    puts: list[tuple[str, UpdateMode, str]] = []
    put = w.lam.put_runtime_setting

    def recording(function: str, qualifier: str | None, mode: UpdateMode, arn: str = "") -> None:
        puts.append((qualifier or "$LATEST", mode, arn))
        put(function, qualifier, mode, arn)

    w.lam.put_runtime_setting = recording  # type: ignore[method-assign]
    assert Machine(w).run() == "closed" and w.pin.stage is Stage.RESOLVED
    canary = w.pin.evidence["canary"]
    assert canary["strategy"] == "version_synthetic" and canary["baseline_version"] == w.baseline
    assert w.lam.calls.count("Invoke") == 2  # the test events, on the candidate
    # The version itself ran the tested runtime (Manual on it) through the bake, then Auto.
    candidate = canary["candidate_version"]
    assert puts == [
        (w.baseline, UpdateMode.MANUAL, NEW_RUNTIME),
        (candidate, UpdateMode.AUTO, ""),
        (w.baseline, UpdateMode.AUTO, ""),
    ]
    assert direct_state(w) == (UpdateMode.AUTO, None, NEW_RUNTIME, UpdateMode.AUTO)
    assert canary["verdicts"][-1]["step"] == "post-promotion"
    assert w.path.count("PostPromotionBake") == 1 and w.locks.held == {}


def test_a_pinned_version_without_an_alias_failing_its_test_events_is_left_as_it_was(
    direct_world: World,
) -> None:
    w = direct_world
    w.lam.invoke_errors.add(NEW_RUNTIME)
    assert Machine(w).run() == "rolled_back"
    assert direct_state(w) == (UpdateMode.MANUAL, OLD_RUNTIME, OLD_RUNTIME, UpdateMode.AUTO)
    assert "PutRuntimeManagementConfig" not in w.lam.calls
    assert "test events [0, 1] failed" in w.pin.evidence["last_canary"]["rolled_back_because"]


@pytest.mark.parametrize("parked", [POST_BAKE, ("Verify", 1)], ids=["postbake", "verify"])
def test_a_pinned_version_without_an_alias_whose_canary_died_is_restored(
    direct_world: World, parked: tuple[str, int]
) -> None:
    w = direct_world
    machine = Machine(w)
    machine.at(*parked, die)
    with pytest.raises(ExecutionDied):
        machine.run()
    assert direct_state(w)[:2] == (UpdateMode.MANUAL, NEW_RUNTIME)  # mid-bake: ours
    repair(w)
    assert direct_state(w) == (UpdateMode.MANUAL, OLD_RUNTIME, OLD_RUNTIME, UpdateMode.AUTO)
    assert w.pin.stage is Stage.TRACKING and w.locks.held == {}


def test_a_human_pin_of_the_version_during_its_bake_is_handed_back_untouched(
    direct_world: World,
) -> None:
    """A human pins version 1 elsewhere while it bakes on the new runtime: Verify hands back
    and Rollback re-reads before writing, so the human's pin stays."""
    w = direct_world
    other = "arn:aws:lambda:us-east-1::runtime:" + "c" * 64
    machine = Machine(w)
    machine.at(
        *POST_BAKE,
        lambda: w.lam.put_runtime_setting("f", w.baseline, UpdateMode.MANUAL, other),
    )
    assert machine.run() == "rolled_back"
    assert direct_state(w)[:2] == (UpdateMode.MANUAL, other)
    last = w.pin.evidence["last_canary"]
    assert "handing back" in last["rolled_back_because"]
    assert any("left as a human set it" in r for r in last["restored"])


def test_a_pinned_version_without_an_alias_or_test_events_needs_accept_untested(
    direct_world: World,
) -> None:
    w = direct_world
    del w.lam.tags_["rollforward:test-events"]
    assert Machine(w).run() == "stopped"
    assert f"no alias routes to version {w.baseline}" in w.pin.evidence["stopped"]["reason"]
    assert "PublishVersion" not in w.lam.calls
    w.pin = w.ledger.update(w.pin, w.clock.now, stage=Stage.APPROVED)
    assert Machine(w, {"accept_untested": True}).run() == "closed"
    assert direct_state(w)[0] is UpdateMode.AUTO


def test_an_alias_on_another_version_leaves_the_pinned_version_to_its_test_events(
    direct_world: World,
) -> None:
    """Alias `live` moved on to version 2; version 1, pinned, is still invoked by qualifier."""
    w = direct_world
    w.lam.set_alias("live", w.lam.publish())
    assert Machine(w).run() == "closed"
    assert w.pin.evidence["canary"]["strategy"] == "version_synthetic"
    assert w.lam.state()[:2] == ("2", {})  # the alias was never touched
    assert "UpdateAlias" not in w.lam.calls


def test_the_running_sequential_canary_shows_its_looks_evidence_and_expected_end(
    world: World,
) -> None:
    """What `show` and the console read mid-canary (`running_canary` on the in-flight record):
    the looks, both e-values against their thresholds, the next look, the plan's end, and an
    expected end from the traffic seen so far."""
    from rollforward.escalation.progress import running_canary
    from rollforward_cli.details import progress_fields

    seen: dict[str, Any] = {}

    def peek() -> None:
        seen["now"] = world.clock.now
        seen["progress"] = running_canary(world.pin, POLICY, [], world.clock.now)

    machine = Machine(world)
    machine.at("Bake", 3, peek)  # after the second look, in the third step
    assert machine.run() == "closed"
    progress = seen["progress"]
    assert progress is not None and progress.phase == "step 3 of 3"
    sequential = progress.sequential
    assert sequential is not None and sequential.looks == 2
    assert 0 < sequential.candidate_invocations < 663 and sequential.to_pass > 0
    assert (sequential.fail_at, sequential.pass_at) == (100, 200)
    assert sequential.healthy_evidence < sequential.pass_at
    assert sequential.next_look_at == seen["now"] + timedelta(minutes=10)
    assert sequential.plan_end is not None and progress.expected_end is not None
    assert progress.step_ends_at == sequential.plan_end  # the last step runs to the plan's end
    # The third look passes: expected within a look or two, far before the plan's end.
    assert progress.expected_end < seen["now"] + timedelta(hours=1) < sequential.plan_end
    fields = dict(progress_fields(progress, seen["now"]))
    assert fields["Evidence so far"].startswith("2 look(s)")
    assert (
        "(FAIL at 100)" in fields["Evidence so far"]
        and "(PASS at 200)" in fields["Evidence so far"]
    )
    assert fields["Next look"] and fields["Plan ends"].endswith("handed to a human")
    assert progress.to_dict()["sequential"]["looks"] == 2
