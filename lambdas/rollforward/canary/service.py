"""`Canary`: the facade the canary handler calls, one method per state machine task."""

from __future__ import annotations

from typing import Any

from rollforward.canary import (
    candidate,
    judging,
    looking,
    preflight,
    promote,
    rollback,
    shifting,
    synthetic,
)
from rollforward.canary.context import CanaryContext
from rollforward.canary.judge import JudgePolicy
from rollforward.canary.state import (
    ALIAS_STRATEGIES,
    IN_FLIGHT,
    CanaryNext,
    CanaryState,
    JudgeKind,
    RollbackRetry,
    Stop,
    Strategy,
)
from rollforward.ledger import Pin, Stage
from rollforward.model import LATEST
from rollforward.policy import Policy
from rollforward.ports import AuditSink, CanaryLocks, LambdaControl, Ledger, Notifier, Signals


class Canary:
    """The canary's steps, one method per state machine task, on its ports."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        lam: LambdaControl,
        signals: Signals,
        notifier: Notifier,
        audit: AuditSink,
        policy: Policy,
        locks: CanaryLocks | None = None,
    ) -> None:
        self.ctx = CanaryContext(ledger, lam, signals, notifier, audit, policy, locks)
        self.policy = policy
        settings = policy.canary
        self.judge_policy = JudgePolicy(
            min_candidate_invocations=settings.min_invocations,
            min_baseline_invocations=settings.min_invocations,
        )

    def start(self, pin: Pin, decision: dict[str, Any]) -> CanaryState:
        """Preflight, candidate, first traffic step. Raises Stop before any change if unsafe."""
        ctx = self.ctx
        state = CanaryState(pinned_arn=pin.pinned_runtime_version_arn)
        state.accept_untested = bool(decision.get("accept_untested"))
        # A retried start picks up what its earlier attempt recorded before changing anything.
        earlier = (
            CanaryState.from_dict(pin.evidence.get(IN_FLIGHT))
            if pin.stage is Stage.CANARY
            else CanaryState()
        )
        preflight.hold_the_function(ctx, pin)
        preflight.check_pin(ctx, pin, earlier)
        if pin.stage is not Stage.CANARY:  # (a retried start said it already)
            preflight.warn_template_pin(ctx, pin)
        tags = ctx.lam.tags(pin.key.function_arn)
        ctx.refuse_opted_out(tags)
        version_pin = pin.key.qualifier != LATEST
        alias = (
            preflight.choose_version_alias(ctx, pin, tags)
            if version_pin
            else preflight.choose_alias(ctx, pin, tags)
        )
        firing = ctx.alarms_in_alarm(ctx.alarm_names(tags), must_exist=True)
        if firing:
            raise Stop(f"watched alarm(s) already in ALARM before any change: {', '.join(firing)}")
        if version_pin:
            # A pinned published version: its candidate is `$LATEST` (equal to it) published
            # on the newest runtime; it meets traffic through the alias that routes to the
            # version, or, with none, the owner's test events and then the version itself.
            preflight.check_latest_builds_candidates(ctx, pin)
            if alias is not None:
                state.strategy, state.alias = Strategy.VERSION_ALIAS, alias.name
                state.baseline_version = preflight.check_alias(ctx, pin, alias)
            else:
                state.strategy = Strategy.VERSION_SYNTHETIC
                self._require_test_events(
                    tags, state, f"no alias routes to version {pin.key.qualifier}"
                )
                state.baseline_version = preflight.check_same_as_latest(ctx, pin, pin.key.qualifier)
        elif alias is not None:
            state.strategy, state.alias = Strategy.ALIAS, alias.name
            state.baseline_version = preflight.check_alias(ctx, pin, alias)
            preflight.check_baseline_runtime(ctx, pin, state.baseline_version)
        else:
            state.strategy = Strategy.SYNTHETIC
            self._require_test_events(tags, state)
            # (publishing again would snapshot a `$LATEST` the earlier attempt already moved)
            state.baseline_version = earlier.baseline_version or candidate.publish_baseline(
                ctx, pin
            )
        if earlier.baseline_version == state.baseline_version:
            state.baseline_setting = earlier.baseline_setting  # read before the attempt changed it
        if earlier.latest_description is not None:
            state.latest_description = earlier.latest_description  # read before its touch
        ctx.remember(pin, state)
        candidate.make_candidate(ctx, pin, state)
        ctx.remember(pin, state)
        if state.candidate_runtime_arn == state.pinned_arn:
            # Nothing newer to test: Auto changes nothing today and follows AWS from now on.
            state.reason = "the newest runtime version is the pinned one: nothing to canary"
            promote.unpin(ctx, pin, state)
            state.next = CanaryNext.RESOLVED
            return state
        if state.strategy in ALIAS_STRATEGIES:
            if self.policy.canary.judge == "sequential":
                state.judge = JudgeKind.SEQUENTIAL
                looking.begin(state, looking.plan(ctx, pin, state.alias))
            else:
                state.judge = JudgeKind.FIXED_HORIZON
            return shifting.shift(ctx, pin, state, 0)
        return synthetic.synthetic_test(ctx, pin, state, tags)

    def _require_test_events(
        self, tags: dict[str, str], state: CanaryState, unrouted: str = "the function has no alias"
    ) -> None:
        """No alias: the owner's test events, or an approval that accepts a bake alone."""
        if not synthetic.test_events(self.ctx, tags) and not state.accept_untested:
            raise Stop(
                f"{unrouted} and no test events (tag "
                f"{self.policy.tags.test_events} naming an SSM parameter): approve with "
                "accept_untested to roll forward on a bake alone"
            )

    def judge_step(self, pin: Pin, state: CanaryState) -> CanaryState:
        """After a bake (fixed horizon) or at a look (sequential): judge, then shift further,
        keep looking, promote, or roll back."""
        if state.judge == JudgeKind.SEQUENTIAL:
            return looking.look(self.ctx, pin, state)
        return judging.judge_step(self.ctx, pin, state, self.judge_policy)

    def promote(self, pin: Pin, state: CanaryState) -> CanaryState:
        return promote.promote(self.ctx, pin, state)

    def verify(self, pin: Pin, state: CanaryState) -> CanaryState:
        return promote.verify(self.ctx, pin, state, self.judge_policy)

    def resolve(self, pin: Pin, state: CanaryState) -> Pin:
        return promote.resolve(self.ctx, pin, state)

    def rollback(self, pin: Pin, state: CanaryState, reason: str) -> Pin:
        """Restore exactly what was: alias 100% baseline, `$LATEST` Manual on the pinned ARN.
        Idempotent; leaves an alias alone if a human has taken it over."""
        return rollback.rollback(self.ctx, pin, state, reason)

    def rollback_failed(
        self, pin: Pin | None, earlier: RollbackRetry | None, error: str
    ) -> RollbackRetry:
        """Rollback failed after its own retries: when to try again (it always does)."""
        return rollback.rollback_failed(self.ctx, pin, earlier, error)

    def stopped(self, pin: Pin, reason: str) -> Pin:
        """Preflight refused before any change: the owner learns exactly why."""
        return rollback.stopped(self.ctx, pin, reason)
