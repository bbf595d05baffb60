"""What the state machine carries between canary tasks (`$.canary`), and the canary's vocabulary.

`CanaryState` is the canary's whole memory between two Lambda tasks: the workflow hands it back
on every step, and StartCanary also writes it to the ledger (`IN_FLIGHT`) before each change, so
a Rollback after a start that died mid-way knows what to restore. `CanaryNext` lists every value
the state machine's `CanaryNext` Choice reads: workflows/ builds its conditions from it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

# Ledger evidence key: the canary's state, written before each change StartCanary makes, so a
# Rollback after a StartCanary that died mid-way (its output never reached the workflow) still
# knows which alias, versions and pin to restore.
IN_FLIGHT: Final = "canary_in_flight"
# How many verdicts the state keeps (the payload stays far below Step Functions' 256 KiB).
KEPT_VERDICTS: Final = 8


class CanaryNext(StrEnum):
    """Where the state machine goes after a canary task (`$.canary.next`)."""

    BAKE = "bake"  # wait until `bake_until`, then look again (JudgeStep)
    PROMOTE = "promote"  # the candidate passed: alias 100% on it
    POST_BAKE = "post_bake"  # promoted: wait until `bake_until`, then Verify
    RESOLVED = "resolved"  # verified (or nothing to canary): Resolve closes the pin
    ROLLBACK = "rollback"  # failed, faulted or changed under us: restore what we set
    ASK_HUMAN = "ask_human"  # undecided at the plan's end: restore, and a human decides
    STOPPED = "stopped"  # refused before any change (preflight): back to the ladder
    ROLLED_BACK = "rolled_back"  # Rollback done: back to the ladder


# The values that lead the state machine to Rollback.
TO_ROLLBACK: Final = (CanaryNext.ROLLBACK, CanaryNext.ASK_HUMAN)


class JudgeKind(StrEnum):
    """Which judge decides the alias steps (policy `canary.judge`: `sequential` or `fixed`),
    chosen at StartCanary and kept in the state for the canary's life."""

    SEQUENTIAL = "sequential"  # looks every few minutes; PASS/FAIL at any look (docs/judge.md)
    FIXED_HORIZON = "fixed_horizon"  # one verdict per bake, extended when inconclusive


class Strategy(StrEnum):
    """How the candidate meets traffic."""

    ALIAS = "alias"  # weighted alias steps, judged on ExecutedVersion metrics
    SYNTHETIC = "synthetic"  # no alias: the owner's test events, then a bake of `$LATEST`
    # A pinned published version behind an alias: the same alias steps from that version to a
    # candidate republished from `$LATEST` (equal to it) on the newest runtime.
    VERSION_ALIAS = "version_alias"
    # A pinned published version invoked by its qualifier (no alias routes to it): the owner's
    # test events on a candidate republished from `$LATEST`, then that version itself Manual
    # on the tested runtime version ARN, baked against its own earlier window, then Auto.
    VERSION_SYNTHETIC = "version_synthetic"


# The strategies whose candidate meets traffic through a weighted alias.
ALIAS_STRATEGIES: Final = (Strategy.ALIAS, Strategy.VERSION_ALIAS)
# The strategies of a pin on a published version (its key's qualifier is a number).
VERSION_STRATEGIES: Final = (Strategy.VERSION_ALIAS, Strategy.VERSION_SYNTHETIC)


class Stop(Exception):
    """Refuse to go on, with a precise reason for the owner. Nothing was changed by us yet,
    or what was changed has been restored by the caller."""

    def __init__(self, reason: str, *, hand_back: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hand_back = hand_back  # a human changed something: do not fight them


class CanaryState(BaseModel):
    """One canary's state between tasks. Mutable on purpose: each task advances it in steps
    and hands the result back; assignments are validated, unknown keys (an older deployment's
    in-flight record) are dropped."""

    model_config = ConfigDict(validate_assignment=True, extra="ignore")

    strategy: Strategy | Literal[""] = ""
    alias: str = ""
    baseline_version: str = ""
    candidate_version: str = ""
    pinned_arn: str = ""
    candidate_runtime_arn: str = ""
    step_index: int = -1
    weight: float = 0.0
    window_start: str = ""
    bake_until: str = ""
    extensions: int = 0
    next: CanaryNext | Literal[""] = ""
    reason: str = ""
    verdicts: list[dict[str, Any]] = Field(default_factory=list)
    accept_untested: bool = False
    promoted: bool = False
    # Set (and written to the ledger) just before Promote moves the alias: a Rollback that finds
    # the alias 100% on the candidate knows it was rollforward, not a human, only by this.
    promoting: bool = False
    started_at: str = ""  # when the first traffic step began (INIT_START search window)
    baseline_setting: dict[str, str] = Field(default_factory=dict)  # restored on rollback
    # `$LATEST`'s Description before the candidate's configuration touch (None: not read yet),
    # put back once the candidate is published, or by Rollback if that never happened.
    latest_description: str | None = None
    # The sequential judge (empty with the fixed-horizon one): its evidence so far
    # (`sequential_judge.Evidence.to_dict`), the first minute not folded into it yet, when the
    # current step ends, the plan's end (its last look, the only INCONCLUSIVE one), each step's
    # length in seconds (the plan's), the number of looks, and the plan in one sentence.
    judge: JudgeKind | Literal[""] = ""
    evidence: dict[str, int | float] = Field(default_factory=dict)
    folded_until: str = ""
    step_until: str = ""
    plan_end: str = ""
    step_seconds: list[int] = Field(default_factory=list)
    looks: int = 0
    plan_summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (enums as their wire values)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CanaryState:
        return cls.model_validate(data or {})

    def add_verdict(self, record: dict[str, Any]) -> None:
        self.verdicts = [*self.verdicts, record][-KEPT_VERDICTS:]


class RollbackRetry(BaseModel):
    """`$.rollback_retry`: how often Rollback has failed in a row (each time after its own
    retries), and how long the machine waits before trying again (`RollbackBackoff` reads
    `wait_seconds`). `stuck`: past the policy's alarm threshold (on-call has been told)."""

    model_config = ConfigDict(extra="ignore")

    attempts: int = Field(default=0, ge=0)
    wait_seconds: int = Field(default=60, ge=1)
    retry_at: str = ""
    stuck: bool = False

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def settled(evidence: dict[str, Any]) -> dict[str, Any]:
    """The ledger evidence without the in-flight record: the canary is over."""
    return {key: value for key, value in evidence.items() if key != IN_FLIGHT}


__all__ = [
    "ALIAS_STRATEGIES",
    "IN_FLIGHT",
    "TO_ROLLBACK",
    "VERSION_STRATEGIES",
    "CanaryNext",
    "CanaryState",
    "JudgeKind",
    "RollbackRetry",
    "Stop",
    "Strategy",
    "settled",
]
